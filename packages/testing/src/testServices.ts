import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export const repoRoot = path.resolve(import.meta.dirname, '../../..');

export interface TestServices {
  /** A database of its own for this test run, migrated to the current schema. */
  databaseUrl: string;
  redisUrl: string;
  /** BullMQ key prefix for this run, so runs never see each other's jobs. */
  queuePrefix: string;
  stop(): Promise<void>;
}

/**
 * Postgres and Redis for a test run. Uses `DATABASE_URL` / `REDIS_URL` when given (CI, a local
 * install); otherwise starts both with testcontainers (needs a Docker engine).
 */
export async function startTestServices(env: NodeJS.ProcessEnv = process.env): Promise<TestServices> {
  const stops: Array<() => Promise<unknown>> = [];
  let serverUrl = env.DATABASE_URL;
  let redisUrl = env.REDIS_URL;
  if (!serverUrl || !redisUrl) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const { RedisContainer } = await import('@testcontainers/redis');
    if (!serverUrl) {
      const container = await new PostgreSqlContainer('postgres:15-alpine').start();
      stops.push(() => container.stop());
      serverUrl = container.getConnectionUri();
    }
    if (!redisUrl) {
      const container = await new RedisContainer('redis:7-alpine').start();
      stops.push(() => container.stop());
      redisUrl = container.getConnectionUrl();
    }
  }

  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const database = `inferq_test_${runId}`;
  const admin = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  await admin.end();
  const databaseUrl = withDatabase(serverUrl, database);
  await migrate(databaseUrl);

  return {
    databaseUrl,
    redisUrl,
    queuePrefix: `inferq-test-${runId}`,
    async stop() {
      const client = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await client.end();
      for (const stop of stops.reverse()) await stop();
    },
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Applies prisma/migrations with the same script as deployments use. */
export async function migrate(databaseUrl: string): Promise<void> {
  await run('bash', [path.join(repoRoot, 'scripts/prisma.sh'), 'migrate', 'deploy'], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: databaseUrl },
  });
}
