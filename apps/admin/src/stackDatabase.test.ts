import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ModelRegistry, readModelFiles, readModelManifest } from '@inferq/models';
import { mnistFixtureFolder } from '@inferq/training';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../../..');

/**
 * `pnpm admin …` beside a running `pnpm start`, with no DATABASE_URL: the CLI finds the stack's
 * database (and model registry) in its state file, and when it cannot use a database it says so
 * in one line and exits 1, never with a driver's dump.
 */
describe('the admin CLI finds the database of `pnpm start`', () => {
  let dataDir = '';

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'inferq-admin-stack-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Runs the admin CLI as `pnpm admin` does, with only the given environment (no DATABASE_URL unless given). */
  async function admin(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        [path.join(repoRoot, 'apps/admin/src/index.ts'), ...args],
        {
          cwd: repoRoot,
          env: { PATH: process.env.PATH ?? '', INFERQ_DATA_DIR: dataDir, ...env },
        },
      );
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  const writeState = (state: Record<string, unknown>) =>
    writeFile(path.join(dataDir, 'state.json'), JSON.stringify({ postgresPassword: 'secret-password', ...state }));

  /** A port on which nothing listens. */
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  /** One line on stderr, nothing of Prisma's, and never the password. */
  function expectOneLine(stderr: string): string {
    const lines = stderr.trim().split('\n');
    expect(lines, stderr).toHaveLength(1);
    expect(stderr).not.toMatch(/prisma|P10\d\d|at .*\.(js|ts):\d+/i);
    expect(stderr).not.toContain('secret-password');
    return lines[0]!;
  }

  it('says in one line what it needs when there is neither DATABASE_URL nor a stack, and exits 1', async () => {
    const result = await admin(['users', 'list']);
    expect(result.code).toBe(1);
    const line = expectOneLine(result.stderr);
    expect(line).toContain('DATABASE_URL');
    expect(line).toContain('pnpm start');
  });

  it("talks to the stack's database, named in its state file", async () => {
    await writeState({ databaseUrl: inject('databaseUrl') });
    const email = `stack-admin-${Date.now()}@test.inferq`;
    const created = await admin(['users', 'create', '--email', email, '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).user.email).toBe(email);
    const listed = await admin(['users', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ email: string }>).map((user) => user.email)).toContain(email);
  });

  it('says in one line that the stack is not running when its database does not answer', async () => {
    const port = await closedPort();
    await writeState({ databaseUrl: `postgresql://postgres:secret-password@127.0.0.1:${port}/inferq` });
    const result = await admin(['users', 'list']);
    expect(result.code).toBe(1);
    const line = expectOneLine(result.stderr);
    expect(line).toContain(`127.0.0.1:${port}`);
    expect(line).toContain('pnpm start');
  });

  it('prefers DATABASE_URL, and names a database that does not exist in one line', async () => {
    await writeState({ databaseUrl: inject('databaseUrl') });
    const url = new URL(inject('databaseUrl'));
    url.pathname = '/no_such_database_inferq';
    const result = await admin(['users', 'list'], { DATABASE_URL: url.toString() });
    expect(result.code).toBe(1);
    const line = expectOneLine(result.stderr);
    expect(line).toContain('"no_such_database_inferq" does not exist');
    expect(line).toContain('DATABASE_URL');
  });

  it('shows its help with no database at all', async () => {
    await rm(path.join(dataDir, 'state.json'), { force: true });
    const result = await admin(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('users create');
  });

  it("works on the stack's model registry when MODELS_DIR is not set", async () => {
    const modelsDir = await mkdtemp(path.join(tmpdir(), 'inferq-admin-models-'));
    try {
      const { name: _n, version: _v, sha256: _s, ...manifest } = await readModelManifest(mnistFixtureFolder);
      await new ModelRegistry({ root: modelsDir }).publish({
        name: 'stackdigits',
        version: '1.0.0',
        files: await readModelFiles(mnistFixtureFolder),
        manifest,
        setLive: true,
      });
      await writeState({ modelsDir });
      const result = await admin(['models', 'list']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('stackdigits');
    } finally {
      await rm(modelsDir, { recursive: true, force: true });
    }
  });
});
