import { isAppError } from '@inferq/core';
import type { CommandOutput } from './adminCommands.ts';

/** A command line that cannot be run as written; exits 2 with the usage text. */
export class UsageError extends Error {}

/**
 * The exit code for an error a command threw: 2 for a usage error (with `usage` printed), 1 for an
 * expected failure with a code. Anything else is a bug and is rethrown.
 */
export function exitCodeForError(error: unknown, usage: string, out: CommandOutput): number {
  if (error instanceof UsageError) {
    out.write(`error: ${error.message}\n\n${usage}\n`);
    return 2;
  }
  if (isAppError(error)) {
    out.write(`error: ${error.code}: ${error.message}\n`);
    return 1;
  }
  throw error;
}
