import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import pg from 'pg';

export interface DatabaseOptions {
  /** Postgres connection string. */
  url: string;
  /** Pool size of the pg driver. @defaultValue 10 */
  poolSize?: number;
  /** How long a query may wait for a pooled connection before it fails. @defaultValue 5000 */
  connectionTimeoutMs?: number;
}

export type Database = PrismaClient;

const pools = new WeakMap<Database, pg.Pool>();

/** The one place a Prisma client is built; apps build it once and pass it in. */
export function createDatabase(options: DatabaseOptions): Database {
  // The pool is ours so the hot-path statements (sqlPool) share its connections with Prisma.
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
  });
  // An idle connection that breaks (Postgres restarted) is dropped from the pool; the next query reconnects.
  pool.on('error', () => {});
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(db, pool);
  return db;
}

/**
 * The pg pool under a client built by createDatabase, for the few statements on every job's path
 * (JobAdmission, JobExecution, JobQueries): a Prisma model query costs about 1–2 ms of CPU in the calling process (its query
 * compiler runs in WebAssembly), the same statement through pg about 0.15 ms (`pnpm bench db`).
 */
export function sqlPool(db: Database): pg.Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error('this Prisma client was not built by createDatabase');
  return pool;
}

export async function pingDatabase(db: Database): Promise<boolean> {
  try {
    await db.$queryRaw`SELECT 1`;
    return true;
  } catch {
    return false;
  }
}
