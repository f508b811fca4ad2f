import { randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { localStackStateSchema, type LocalStackState } from '@inferq/core';
import type { ServiceSpec } from './supervisor.ts';

/** The first executable of that name on PATH, or undefined. */
export function findOnPath(name: string, pathVariable = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVariable.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export const redisInstallHint =
  'redis-server is not on PATH. Install Redis 7 (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a running server.';

/** A redis-server of the stack's own: loopback only, its append-only file in `dir`, so queued jobs survive a restart. */
export function redisService(options: { executable: string; port: number; dir: string }): ServiceSpec {
  mkdirSync(options.dir, { recursive: true });
  return {
    name: 'redis',
    color: 'red',
    command: options.executable,
    args: [
      '--port',
      String(options.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      options.dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--daemonize',
      'no',
    ],
    ready: (line) => line.includes('Ready to accept connections'),
    infrastructure: true,
  };
}

/** The embedded Postgres (embeddedPostgres.ts), with its data in `dir`. */
export function postgresService(options: { entry: string; port: number; dir: string; password: string }): ServiceSpec {
  return {
    name: 'postgres',
    color: 'blue',
    command: process.execPath,
    args: [options.entry],
    env: {
      INFERQ_POSTGRES_DIR: options.dir,
      INFERQ_POSTGRES_PORT: String(options.port),
      INFERQ_POSTGRES_PASSWORD: options.password,
    },
    ready: (line) => line === 'embedded postgres ready',
    infrastructure: true,
    // A first start runs initdb.
    readyTimeoutMs: 120_000,
  };
}

/** What the stack keeps between runs in its data folder (mode 0600: it holds a password and an API key). */
export type StackState = LocalStackState;

export function readState(file: string): StackState {
  if (existsSync(file)) {
    const parsed = localStackStateSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (parsed.success) return parsed.data;
  }
  return { postgresPassword: randomBytes(18).toString('base64url') };
}

export function writeState(file: string, state: StackState): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

/** Creates the database `url` names when the server does not have it yet. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1)) || 'postgres';
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    return true;
  } finally {
    await client.end();
  }
}

/** Migrations in `migrationsDir` that the database has not applied (all of them on a new database). */
export async function pendingMigrations(url: string, migrationsDir: string): Promise<string[]> {
  const all = readdirSync(migrationsDir)
    .filter((name) => statSync(path.join(migrationsDir, name)).isDirectory())
    .sort();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const table = await client.query(`SELECT to_regclass('_prisma_migrations') AS name`);
    if (!table.rows[0]?.name) return all;
    const applied = await client.query<{ migration_name: string }>(
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    const done = new Set(applied.rows.map((row) => row.migration_name));
    return all.filter((name) => !done.has(name));
  } finally {
    await client.end();
  }
}
