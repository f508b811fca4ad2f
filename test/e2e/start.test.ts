import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { drawingImage } from '@inferq/images/testing';
import { findOnPath } from '@inferq/stack/localServers';
import { freePort, PlatformProcess, repoRoot, withDatabase } from '@inferq/testing';

const run = promisify(execFile);

/** `pnpm start` as a child process, with ports and folders of its own. */
class Stack {
  process: PlatformProcess | undefined;
  readonly env: Record<string, string>;
  constructor(env: Record<string, string>) {
    this.env = env;
  }

  /** Starts it and resolves with what its banner says. */
  async start(): Promise<{ baseUrl: string; apiKey: string; lines: string[] }> {
    this.process = new PlatformProcess('start', 'apps/stack/src/index.ts', {
      NO_COLOR: '1',
      INFERQ_DASHBOARD: 'skip',
      ...this.env,
    });
    await this.process.waitForLog((line) => line.msg.startsWith('Ctrl-C stops everything'), 240_000);
    const lines = this.process.lines.map((line) => line.msg);
    const baseUrl = /^ {2}API +(http:\/\/\S+)$/m.exec(lines.join('\n'))?.[1];
    const apiKey = /^ {2}API key +(iq_\S+)$/m.exec(lines.join('\n'))?.[1];
    if (!baseUrl || !apiKey) throw new Error(`no address or key in the banner:\n${this.process.tail(40)}`);
    return { baseUrl, apiKey, lines };
  }

  /** Ctrl-C, and the exit code. */
  async interrupt(): Promise<number | null> {
    const child = this.process!;
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await child.exited;
    clearTimeout(timer);
    return code;
  }
}

let dir = '';
let imageFile = '';

async function inferq(
  stack: { baseUrl: string; apiKey: string },
  args: string[],
): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [path.join(repoRoot, 'packages/cli/src/main.ts'), ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, INFERQ_BASE_URL: stack.baseUrl, INFERQ_API_KEY: stack.apiKey },
    });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

/** `pnpm admin …` beside the stack, with no DATABASE_URL: it finds the stack from its data folder. */
async function admin(dataDir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(repoRoot, 'apps/admin/src/index.ts'), ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', INFERQ_DATA_DIR: dataDir },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'inferq-start-'));
  // Run as root, the embedded Postgres runs as the postgres user, which must reach its folder.
  await chmod(dir, 0o755);
  imageFile = path.join(dir, 'photo.jpg');
  await writeFile(
    imageFile,
    await sharp(await drawingImage(320, 240))
      .jpeg()
      .toBuffer(),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The processes below `pid` (its children, theirs, …), each with its command line and environment. */
function descendants(pid: number): Array<{ pid: number; cmdline: string; environ: Record<string, string> }> {
  const found: Array<{ pid: number; cmdline: string; environ: Record<string, string> }> = [];
  const read = (file: string) => readFileSync(file, 'utf8').split('\0').filter(Boolean);
  const walk = (parent: number) => {
    let children: string[];
    try {
      children = read(`/proc/${parent}/task/${parent}/children`).join('').split(' ').filter(Boolean);
    } catch {
      return; // gone meanwhile
    }
    for (const child of children) {
      const childPid = Number(child);
      try {
        const environ = Object.fromEntries(
          read(`/proc/${childPid}/environ`).map((entry) => [
            entry.slice(0, entry.indexOf('=')),
            entry.slice(entry.indexOf('=') + 1),
          ]),
        );
        found.push({ pid: childPid, cmdline: read(`/proc/${childPid}/cmdline`).join(' '), environ });
      } catch {
        continue; // a short-lived child that exited between the two reads
      }
      walk(childPid);
    }
  };
  walk(pid);
  return found;
}

async function ports(): Promise<Record<string, string>> {
  return {
    PORT: String(await freePort()),
    INFERQ_POSTGRES_PORT: String(await freePort()),
    INFERQ_REDIS_PORT: String(await freePort()),
  };
}

describe('pnpm start', () => {
  const database = `inferq_start_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const serverUrl = inject('databaseUrl');
  let stack: Stack | undefined;

  afterAll(async () => {
    await stack?.process?.stop(60_000);
    const admin = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  });

  it('with DATABASE_URL and REDIS_URL: creates and migrates the database, classifies an image through the CLI, stops on Ctrl-C', async () => {
    stack = new Stack({
      ...(await ports()),
      DATABASE_URL: withDatabase(serverUrl, database),
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: `${inject('queuePrefix')}-start`,
      MODELS_DIR: inject('modelsDir'),
      INFERQ_DATA_DIR: path.join(dir, 'external'),
      NODE_OPTIONS: '--no-deprecation',
    });
    const started = await stack.start();
    expect(started.lines).toContain(`inferq   | created database ${database}`);
    // Its Node processes run with the young generation and malloc arenas of the Docker image,
    // the user's own NODE_OPTIONS after them.
    const apps = descendants(stack.process!.child.pid!).filter(({ cmdline }) =>
      /apps\/(api|worker|webhooks)\//.test(cmdline),
    );
    // A worker of several processes forks the others: the environment is theirs too.
    expect([...new Set(apps.map(({ cmdline }) => /apps\/(\w+)\//.exec(cmdline)?.[1]))].sort()).toEqual([
      'api',
      'webhooks',
      'worker',
    ]);
    for (const { environ } of apps) {
      expect(environ.NODE_OPTIONS).toBe('--max-semi-space-size=16 --no-deprecation');
      expect(environ.MALLOC_ARENA_MAX).toBe('2');
    }
    expect(started.lines.some((line) => line.startsWith('inferq   | migrating the database'))).toBe(true);

    const submitted = await inferq(started, ['submit', imageFile, '--wait', '--json']);
    expect(submitted.code).toBe(0);
    const [row] = JSON.parse(submitted.stdout) as Array<{
      job: { status: string; result: { top: Array<{ label: string }> } };
    }>;
    expect(row?.job.status).toBe('succeeded');
    expect(row?.job.result.top.map((entry) => entry.label).sort()).toEqual([
      'Drawing',
      'Hentai',
      'Neutral',
      'Porn',
      'Sexy',
    ]);

    // `pnpm admin` beside it, with no DATABASE_URL: the stack's database, from its state file.
    const users = await admin(path.join(dir, 'external'), ['users', 'list', '--json']);
    expect(users.code, users.stderr).toBe(0);
    expect((JSON.parse(users.stdout) as Array<{ role: string }>).some((user) => user.role === 'admin')).toBe(true);

    expect(await stack.interrupt()).toBe(0);
    expect(stack.process!.lines.at(-1)?.msg).toBe('inferq   | stopped');
    // The apps answered Ctrl-C themselves, each with its own orderly shutdown.
    for (const name of ['api', 'worker', 'webhooks']) {
      expect(
        stack.process!.lines.some(
          (line) => line.msg.startsWith(`${name.padEnd(8)} |`) && line.msg.endsWith(' INFO  stopped'),
        ),
      ).toBe(true);
    }
  });
});

describe('pnpm start, as a person runs it', () => {
  const database = `inferq_start_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const serverUrl = inject('databaseUrl');
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  });

  /** `pnpm start` in a process group of its own, as a terminal runs it: Ctrl-C signals the whole group. */
  function pnpmStart(env: Record<string, string>) {
    const child = spawn('pnpm', ['start'], {
      cwd: repoRoot,
      detached: true,
      env: { ...process.env, NO_COLOR: '1', INFERQ_DASHBOARD: 'skip', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    return { child, exited, output: () => output };
  }

  it('says a port in use in one line, before starting anything, and exits 1', async () => {
    const holder = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const started = performance.now();
      const stack = pnpmStart({
        ...(await ports()),
        PORT: String(port),
        DATABASE_URL: withDatabase(serverUrl, database),
        REDIS_URL: inject('redisUrl'),
        MODELS_DIR: inject('modelsDir'),
        INFERQ_DATA_DIR: path.join(dir, 'busy'),
      });
      expect(await stack.exited).toBe(1);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(stack.output()).toContain(`inferq   | cannot start: port ${port} on 127.0.0.1 (the API, PORT) is in use`);
      expect(stack.output()).not.toMatch(/\n\s+at /); // no stack trace
      expect(stack.output()).not.toContain('created database'); // nothing was started
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("prints the worker's health port and a banner that works in a new terminal; a Ctrl-C to the group exits 0, without ELIFECYCLE", async () => {
    const stack = pnpmStart({
      ...(await ports()),
      DATABASE_URL: withDatabase(serverUrl, database),
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: `${inject('queuePrefix')}-pnpm-start`,
      MODELS_DIR: inject('modelsDir'),
      INFERQ_DATA_DIR: path.join(dir, 'pnpm'),
    });
    try {
      const deadline = Date.now() + 240_000;
      while (!stack.output().includes('Ctrl-C stops everything') && Date.now() < deadline) {
        if (stack.child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const banner = stack.output();
      const workerPort = /^ {2}Worker +http:\/\/127\.0\.0\.1:(\d+)\/healthz/m.exec(banner)?.[1];
      expect(workerPort, banner.slice(-3000)).toBeDefined();
      expect((await fetch(`http://127.0.0.1:${workerPort}/healthz`)).status).toBe(200);
      expect(banner).toContain(`  cd ${repoRoot} && source scripts/env.sh`);
      expect(banner).toMatch(/^ {2}Models +nsfw \(the default\): rates how explicit a photo is/m);
    } finally {
      process.kill(-stack.child.pid!, 'SIGINT');
    }
    const timer = setTimeout(() => process.kill(-stack.child.pid!, 'SIGKILL'), 60_000);
    expect(await stack.exited).toBe(0);
    clearTimeout(timer);
    expect(stack.output()).toContain('inferq   | stopped');
    expect(stack.output()).not.toContain('ELIFECYCLE');
  });
});

describe('pnpm start with nothing running: embedded Postgres and its own redis-server', () => {
  let stack: Stack | undefined;
  afterAll(async () => {
    await stack?.process?.stop(60_000);
  });

  it('starts both, keeps the data and the API key for the next run, and stops them with the rest', async (context) => {
    if (!findOnPath('redis-server')) context.skip('redis-server is not installed on this machine');
    const dataDir = path.join(dir, 'embedded');
    stack = new Stack({
      ...(await ports()),
      DATABASE_URL: '',
      REDIS_URL: '',
      MODELS_DIR: inject('modelsDir'),
      INFERQ_DATA_DIR: dataDir,
    });
    const first = await stack.start();
    expect(
      first.lines.some(
        (line) => line.startsWith('  Postgres     postgresql://postgres:') && line.includes('(embedded'),
      ),
    ).toBe(true);
    const submitted = await inferq(first, ['submit', imageFile, '--wait', '--json']);
    expect(submitted.code).toBe(0);
    const [row] = JSON.parse(submitted.stdout) as Array<{ job: { id: string; status: string } }>;
    expect(row?.job.status).toBe('succeeded');
    // `pnpm admin` beside it, with no DATABASE_URL: the embedded database, found by itself.
    const email = `beside-start-${Date.now()}@test.inferq`;
    const created = await admin(dataDir, ['users', 'create', '--email', email, '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).user.email).toBe(email);
    expect(await stack.interrupt()).toBe(0);
    // Stopped: one line saying so, and how to go on.
    const stopped = await admin(dataDir, ['users', 'list']);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr.trim().split('\n')).toEqual([expect.stringContaining('is `pnpm start` running?')]);
    expect(existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);

    const second = await stack.start();
    expect(second.apiKey).toBe(first.apiKey);
    // Nothing left to migrate or create.
    expect(
      second.lines.some(
        (line) => line.startsWith('inferq   | migrating') || line.startsWith('inferq   | created database'),
      ),
    ).toBe(false);
    const got = await inferq(second, ['get', row!.job.id, '--json']);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: row!.job.id, status: 'succeeded' });
    expect(await stack.interrupt()).toBe(0);
  });
});
