// Postgres and Redis for one benchmark run: a fresh migrated database on DATABASE_URL's server,
// and by default a private redis-server of our own, so its CPU time and queue are ours alone
// (the shared Redis also serves other people's test runs), and a blob store folder of the run's own.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { fileBlobStoreUrl } from '@inferq/storage';
import { PrivateRedis, startTestServices } from '@inferq/testing';

export interface BenchServices {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  /**
   * BLOB_STORE_URL for the run's API and workers: a folder of its own (see benchBlobParent),
   * removed by stop(). The run's database is dropped, so its job inputs would be orphans, and a
   * folder that grows run after run slows later runs' writes.
   */
  blobStoreUrl: string;
  /** The folder that blobStoreUrl names. */
  blobDir: string;
  /** Whether Redis is a private redis-server started for this run. */
  privateRedis: boolean;
  /** Pids of this database's Postgres backends right now. */
  postgresPids(): Promise<number[]>;
  /** CPU ms Redis has used since it started (INFO cpu: main thread + children). */
  redisCpuMs(): Promise<number>;
  /** Commands Redis has run since it started (INFO stats), those of Lua scripts included. */
  redisCommands(): Promise<number>;
  /** Transactions committed or rolled back in this database so far (pg_stat_database; each lone statement is one). */
  postgresTransactions(): Promise<number>;
  stop(): Promise<void>;
}

/** Free bytes a tmpfs needs for the runs' job inputs to go there (a 15 s e2e run writes about 0.4 GB). */
const tmpfsMinFreeBytes = 4 * 1024 ** 3;

/**
 * Where each run's blob folder is made: BENCH_BLOB_DIR when set, else /dev/shm when it is a tmpfs
 * with room, else the temporary folder. Not a disk by default, because a run removes its inputs
 * when it ends, thousands of files at once, and on ext4 without a journal (as on these machines)
 * creating a file then skips every inode freed in the last 60 s, or 360 s while its inode table
 * block is still dirty (`recently_deleted` in the kernel's ialloc.c), each skip a lookup: after the
 * last run's cleanup, those lookups were a fifth of the next run's API CPU in a profile. That is
 * the benches' own churn, not the platform's; the disk's own cost is `pnpm bench blobstore`'s.
 */
export function benchBlobParent(): string {
  const asked = process.env.BENCH_BLOB_DIR;
  if (asked) return asked;
  try {
    const fs = statfsSync('/dev/shm');
    const tmpfsMagic = 0x01021994;
    if (fs.type === tmpfsMagic && fs.bavail * fs.bsize >= tmpfsMinFreeBytes) return '/dev/shm';
  } catch {
    // no /dev/shm here
  }
  return tmpdir();
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `sharedRedis`: use REDIS_URL instead of a private redis-server (its CPU figures then include
 * whatever else runs on that server).
 */
export async function startBenchServices(options: { sharedRedis?: boolean } = {}): Promise<BenchServices> {
  const usePrivate = !options.sharedRedis && hasRedisServer();
  const redis = usePrivate ? await PrivateRedis.start() : undefined;
  const base = await startTestServices(redis ? { ...process.env, REDIS_URL: redis.url } : process.env);
  const databaseName = new URL(base.databaseUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: base.databaseUrl });
  await admin.connect();
  const info = new Redis(base.redisUrl, { maxRetriesPerRequest: 1 });
  const blobDir = mkdtempSync(path.join(benchBlobParent(), 'inferq-bench-blobs-'));
  return {
    databaseUrl: base.databaseUrl,
    redisUrl: base.redisUrl,
    queuePrefix: base.queuePrefix,
    blobStoreUrl: fileBlobStoreUrl(blobDir),
    blobDir,
    privateRedis: redis !== undefined,
    async postgresPids() {
      // Our own monitoring connection is left out: it is the bench's, not the platform's.
      const result = await admin.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [databaseName],
      );
      return result.rows.map((row) => row.pid);
    },
    async redisCpuMs() {
      const text = await info.info('cpu');
      const value = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(text)?.[1] ?? 0);
      return (value('used_cpu_user') + value('used_cpu_sys')) * 1000;
    },
    async redisCommands() {
      const text = await info.info('stats');
      return Number(/^total_commands_processed:(\d+)/m.exec(text)?.[1] ?? Number.NaN);
    },
    async postgresTransactions() {
      // Backends report their counts at most once a second; clear this backend's snapshot to see the latest.
      await admin.query('SELECT pg_stat_clear_snapshot()');
      const result = await admin.query<{ total: string }>(
        'SELECT xact_commit + xact_rollback AS total FROM pg_stat_database WHERE datname = $1',
        [databaseName],
      );
      return Number(result.rows[0]?.total ?? Number.NaN);
    },
    async stop() {
      info.disconnect();
      await admin.end().catch(() => {});
      await base.stop();
      await redis?.stop();
      rmSync(blobDir, { recursive: true, force: true });
    },
  };
}
