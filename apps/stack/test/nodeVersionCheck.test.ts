import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@inferq/testing';

const run = promisify(execFile);

/** A Node older than 22 on this machine (the system's, beside the Node 24 that scripts/env.sh brings), if any. */
async function oldNode(): Promise<string | undefined> {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    try {
      const { stdout } = await run(candidate, ['-p', 'process.versions.node']);
      if (Number(stdout.split('.')[0]) < 22) return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}

describe('scripts/node.mjs', () => {
  it('runs an entry point with its arguments on a recent Node', async () => {
    const { stdout } = await run(process.execPath, ['scripts/node.mjs', 'packages/cli/src/main.ts', '--help'], {
      cwd: repoRoot,
    });
    expect(stdout).toContain('Usage: inferq <command>');
  });

  it('tells a Node that is too old to source scripts/env.sh, instead of failing on the .ts extension', async (context) => {
    const node = await oldNode();
    if (!node) context.skip('no Node older than 22 on this machine');
    const failed = await run(node!, ['scripts/node.mjs', 'apps/stack/src/index.ts'], { cwd: repoRoot }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain('source scripts/env.sh');
    expect(failed?.stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });
});
