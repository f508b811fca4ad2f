import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { localStackStateSchema, type LocalStackState } from '@inferq/core';
import type { Database } from '@inferq/db';

/** The database the admin CLI talks to, and where it learnt of it (shown in every problem it reports). */
export interface DatabaseChoice {
  url: string;
  /** `DATABASE_URL`, or the state file of the `pnpm start` stack that named it. */
  source: string;
}

export interface FindDatabaseOptions {
  /** DATABASE_URL, when set: it always wins. */
  databaseUrl?: string | undefined;
  /** `<INFERQ_DATA_DIR>/state.json` of the local stack; what it holds when DATABASE_URL is not set. */
  stack?: { file: string; state: LocalStackState | undefined };
}

/** A problem with the database said in one line, as the user can act on it; the CLI exits 1 with it. */
export class DatabaseProblem extends Error {}

/** The local stack's state (`pnpm start` writes it), or undefined when there is none or it cannot be read. */
export function readStackState(file: string): LocalStackState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const parsed = localStackStateSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * DATABASE_URL when set; else the database of the `pnpm start` stack, from its state file. Throws
 * a DatabaseProblem saying what is needed when neither is there.
 */
export function findDatabase(options: FindDatabaseOptions): DatabaseChoice {
  if (options.databaseUrl) return { url: options.databaseUrl, source: 'DATABASE_URL' };
  const fromStack = options.stack?.state?.databaseUrl;
  if (fromStack && options.stack) return { url: fromStack, source: shown(options.stack.file) };
  const where = options.stack ? shown(options.stack.file) : '.inferq/state.json';
  throw new DatabaseProblem(
    `no database to talk to: set DATABASE_URL, or start the local stack with \`pnpm start\` (it writes ${where}, which names its database)`,
  );
}

/**
 * Checks that the chosen database answers, so a command never dies in the middle with a driver's
 * dump: a problem is a DatabaseProblem of one line, naming the server (never its password) and
 * what to do.
 */
export async function checkDatabase(db: Database, choice: DatabaseChoice): Promise<void> {
  try {
    await db.$queryRaw`SELECT 1`;
  } catch (error) {
    throw new DatabaseProblem(describeProblem(error, choice));
  }
}

interface DriverCause {
  kind?: string;
  originalMessage?: string;
}

function describeProblem(error: unknown, choice: DatabaseChoice): string {
  const cause = ((error as { meta?: { driverAdapterError?: { cause?: DriverCause } } }).meta?.driverAdapterError
    ?.cause ?? {}) as DriverCause;
  const target = new URL(choice.url);
  const server = `${target.hostname}:${target.port || '5432'}`;
  const database = decodeURIComponent(target.pathname.slice(1)) || 'postgres';
  const fromStack = choice.source !== 'DATABASE_URL';
  const from = `(from ${choice.source})`;
  switch (cause.kind) {
    case 'DatabaseNotReachable':
      return fromStack
        ? `cannot reach the database of \`pnpm start\` at ${server} ${from}: is \`pnpm start\` running? Start it, or set DATABASE_URL`
        : `cannot reach the database at ${server} ${from}: is Postgres running there?`;
    case 'DatabaseDoesNotExist':
      return `the database "${database}" does not exist on ${server} ${from}${fromStack ? ': run `pnpm start` once to create it' : ''}`;
    case 'DatabaseAccessDenied':
      return `the database at ${server} refused the login ${from}: ${cause.originalMessage ?? 'access denied'}`;
    default:
      return `cannot use the database at ${server} ${from}: ${cause.originalMessage ?? cause.kind ?? firstLine(error)}`;
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (
    message
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .at(-1) ?? 'unknown error'
  );
}

/** A path as the user can type it: relative when it lies under the current folder. */
function shown(target: string): string {
  const relative = path.relative(process.cwd(), target);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : target;
}
