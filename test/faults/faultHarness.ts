import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chown, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { inject } from 'vitest';
import {
  createTestUser,
  freePort,
  startTestServices,
  type PlatformEnv,
  type TestServices,
  type TestUser,
} from '@inferq/testing';

export { PrivateRedis } from '@inferq/testing';

/**
 * Pieces shared by the fault tests: private Redis and Postgres servers that a test may kill and
 * restart (never the machine's shared ones, which other test runs use), bulk submission, and the
 * counts each test prints and asserts, read from Postgres, the source of truth.
 */

const run = promisify(execFile);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A Postgres cluster of this test (initdb in a temporary folder, its own port and socket
 * folder), so stopping it touches nobody else. Postgres refuses to run as root, so as root the
 * server runs as the `postgres` user.
 */
export class PrivatePostgres {
  readonly port: number;
  readonly dir: string;
  readonly #bin: string;

  private constructor(port: number, dir: string, bin: string) {
    this.port = port;
    this.dir = dir;
    this.#bin = bin;
  }

  static async start(): Promise<PrivatePostgres> {
    const bin = await postgresBinDir();
    const dir = await mkdtemp(path.join(tmpdir(), 'inferq-pg-'));
    if (process.getuid?.() === 0) await chown(dir, ...(await postgresUser()));
    const cluster = new PrivatePostgres(await freePort(), dir, bin);
    await cluster.#as(path.join(bin, 'initdb'), ['-D', cluster.#data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await cluster.startServer();
    return cluster;
  }

  get #data(): string {
    return path.join(this.dir, 'data');
  }

  /** The cluster's `postgres` database. */
  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async startServer(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
    await this.#as(path.join(this.#bin, 'pg_ctl'), [
      '-D',
      this.#data,
      '-o',
      options,
      '-l',
      path.join(this.dir, 'log'),
      '-w',
      '-t',
      '60',
      'start',
    ]);
  }

  /** Stops the server; `fast` ends every session at once, as a restart does. */
  async stopServer(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.#as(path.join(this.#bin, 'pg_ctl'), ['-D', this.#data, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  async destroy(): Promise<void> {
    await this.stopServer('immediate').catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }

  async #as(command: string, args: string[]): Promise<void> {
    if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', command, ...args]);
    else await run(command, args);
  }
}

async function postgresBinDir(): Promise<string> {
  const { stdout } = await run('bash', [
    '-c',
    'ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true',
  ]);
  const dir = stdout.trim();
  if (dir) return dir;
  const { stdout: pgCtl } = await run('bash', ['-c', 'command -v pg_ctl']);
  return path.dirname(pgCtl.trim());
}

async function postgresUser(): Promise<[number, number]> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const entry = passwd.split('\n').find((line) => line.startsWith('postgres:'));
  if (!entry) throw new Error('running as root needs a "postgres" user to run a private Postgres');
  const [, , uid, gid] = entry.split(':');
  return [Number(uid), Number(gid)];
}

/** A database of its own on `serverUrl` (migrated), for tests whose workers reconcile every row. */
export async function privateDatabase(serverUrl: string = inject('databaseUrl')): Promise<TestServices> {
  return startTestServices({ DATABASE_URL: serverUrl, REDIS_URL: inject('redisUrl') });
}

/** Tier limits out of the way: fault tests measure the pipeline, not the rate limiter. */
export const unlimitedTiers = JSON.stringify({
  free: { submitsPerWindow: 1_000_000, submitBurst: 0, requestsPerWindow: 1_000_000, maxJobsInFlight: 1_000_000 },
});

/**
 * Settings for one fault test's API and workers: this run's shared services unless `overrides`
 * names others, a queue of the test's own, the tier limits lifted; `extra` adds to the settings.
 */
export function faultEnv(overrides: Omit<Partial<PlatformEnv>, 'queueName'> = {}): PlatformEnv {
  return {
    databaseUrl: inject('databaseUrl'),
    redisUrl: inject('redisUrl'),
    queuePrefix: inject('queuePrefix'),
    modelsDir: inject('modelsDir'),
    ...overrides,
    queueName: `faults-${randomUUID()}`,
    extra: { ...overrides.extra, TIER_OVERRIDES: unlimitedTiers },
  };
}

export interface SubmitOutcome {
  /** HTTP status, or 0 when the request itself failed (connection refused, timeout). */
  status: number;
  id?: string;
  code?: string;
  ms: number;
}

export async function submitOne(
  baseUrl: string,
  user: TestUser,
  image: Buffer,
  fields: Record<string, string> = {},
): Promise<SubmitOutcome> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  form.set('image', new Blob([new Uint8Array(image)], { type: 'image/jpeg' }), 'fault.jpg');
  const started = performance.now();
  try {
    const response = await fetch(`${baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: user.headers,
      body: form,
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await response.json().catch(() => ({}))) as { id?: string; error?: { code?: string } };
    return { status: response.status, id: body.id, code: body.error?.code, ms: performance.now() - started };
  } catch {
    return { status: 0, ms: performance.now() - started };
  }
}

/** Submits `count` jobs with `concurrency` requests in flight; answers in submission order. */
export async function submitMany(
  baseUrl: string,
  user: TestUser,
  image: Buffer,
  count: number,
  concurrency = 8,
): Promise<SubmitOutcome[]> {
  const outcomes: SubmitOutcome[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const index = next++;
        outcomes[index] = await submitOne(baseUrl, user, image);
      }
    }),
  );
  return outcomes;
}

export interface Tally {
  submitted: number;
  succeeded: number;
  failed: number;
  canceled: number;
  /** Accepted jobs not final (or without a row) when counted. */
  lost: number;
  /** Result rows beyond one per job. */
  duplicated: number;
  results: number;
  /** Failure codes of the failed jobs. */
  codes: Record<string, number>;
}

/** Counts the accepted jobs' final states and results in Postgres. */
export async function tally(databaseUrl: string, ids: string[]): Promise<Tally> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const statuses = await client.query<{ status: string; error_code: string | null; n: string }>(
      'SELECT status, error_code, count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) GROUP BY status, error_code',
      [ids],
    );
    const results = await client.query<{ n: string; distinct_jobs: string }>(
      'SELECT count(*) AS n, count(DISTINCT job_id) AS distinct_jobs FROM job_results WHERE job_id = ANY($1::uuid[])',
      [ids],
    );
    const count = (status: string) =>
      statuses.rows.filter((row) => row.status === status).reduce((sum, row) => sum + Number(row.n), 0);
    const codes: Record<string, number> = {};
    for (const row of statuses.rows)
      if (row.status === 'failed')
        codes[row.error_code ?? 'none'] = (codes[row.error_code ?? 'none'] ?? 0) + Number(row.n);
    const succeeded = count('succeeded');
    const failed = count('failed');
    const canceled = count('canceled');
    const resultRows = Number(results.rows[0]?.n ?? 0);
    return {
      submitted: ids.length,
      succeeded,
      failed,
      canceled,
      lost: ids.length - succeeded - failed - canceled,
      duplicated: resultRows - Number(results.rows[0]?.distinct_jobs ?? 0),
      results: resultRows,
      codes,
    };
  } finally {
    await client.end();
  }
}

/** Polls until every job is final or `timeoutMs` passes; answers the last count either way. */
export async function waitForFinal(databaseUrl: string, ids: string[], timeoutMs: number): Promise<Tally> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await tally(databaseUrl, ids).catch(() => undefined);
    if (counts && counts.lost === 0) return counts;
    if (Date.now() > deadline) return counts ?? tally(databaseUrl, ids);
    await sleep(500);
  }
}

/** One line per fault test with the numbers the issue asks to quote; also appended to FAULTS_REPORT when set. */
export async function report(name: string, counts: Tally, extra: Record<string, unknown> = {}): Promise<void> {
  const fields = {
    submitted: counts.submitted,
    succeeded: counts.succeeded,
    failed: counts.failed,
    lost: counts.lost,
    duplicated: counts.duplicated,
    ...extra,
  };
  const line = `[fault] ${name}: ${Object.entries(fields)
    .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join(' ')}`;
  console.log(line);
  if (process.env.FAULTS_REPORT) await writeFile(process.env.FAULTS_REPORT, `${line}\n`, { flag: 'a' });
}

/** A copy of the models folder with one more model: `name`, the default model's weights under a manifest with `limits`. */
export async function modelsWithVariant(
  name: string,
  limits: Record<string, number>,
): Promise<{ dir: string; remove(): Promise<void> }> {
  const source = inject('modelsDir');
  const dir = await mkdtemp(path.join(tmpdir(), 'inferq-models-'));
  await cp(source, dir, { recursive: true });
  const version = (await readFile(path.join(source, 'nsfw', 'LIVE'), 'utf8')).trim();
  await cp(path.join(source, 'nsfw'), path.join(dir, name), { recursive: true });
  const manifestPath = path.join(dir, name, version, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
  await writeFile(manifestPath, JSON.stringify({ ...manifest, name, limits }, null, 2));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export { createTestUser };
