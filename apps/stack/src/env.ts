import { z } from 'zod';
import { commonEnvSchema, parseEnv } from '@inferq/core';

const port = z.coerce.number().int().min(1).max(65535);

/**
 * Every setting of `pnpm start`, parsed once at boot. Nothing else reads process.env; the API,
 * worker and webhook dispatcher it starts parse their own settings (anything else set in the
 * environment, TIER_OVERRIDES say, reaches them unchanged).
 */
export const stackEnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .url()
    .optional()
    .describe('A Postgres server to use instead of the embedded one; its database is created when missing.'),
  REDIS_URL: z
    .string()
    .url()
    .optional()
    .describe('A Redis server to use instead of starting `redis-server` from PATH.'),
  INFERQ_DATA_DIR: z
    .string()
    .default('.inferq')
    .describe(
      'Where the embedded Postgres, the local Redis and the saved API key (`state.json`) keep their files; `rm -rf .inferq` starts afresh.',
    ),
  INFERQ_POSTGRES_PORT: port.default(54329).describe('Port of the embedded Postgres (127.0.0.1 only).'),
  INFERQ_REDIS_PORT: port.default(63799).describe('Port of the local redis-server (127.0.0.1 only).'),
  PORT: port.default(3000).describe("The API's port."),
  HOST: z.string().default('127.0.0.1').describe("The API's address; `0.0.0.0` shares it with the network."),
  QUEUE_PREFIX: z
    .string()
    .default('inferq-local')
    .describe('A key prefix of its own, so this stack never takes the jobs of another one on the same Redis.'),
  MODELS_DIR: commonEnvSchema.shape.MODELS_DIR,
  BLOB_STORE_URL: z
    .string()
    .refine(
      (text) => text === 'postgres' || /^(file|s3):\/\//.test(text),
      'must be a file:// or s3:// URL, or postgres',
    )
    .optional()
    .describe(
      'Where job inputs and uploads are kept; unset: the folder blobs/ in INFERQ_DATA_DIR (the filesystem driver); `postgres`: in Postgres. The other BLOB_STORE_* settings reach the API and workers unchanged.',
    ),
  WORKER_PROCESSES: z
    .union([z.literal('auto'), z.coerce.number().int().min(1).max(256)])
    .default('auto')
    .describe("Worker processes (`auto`: one per core), as the worker's own `WORKER_PROCESSES`."),
  INFERQ_DASHBOARD: z
    .enum(['build', 'skip'])
    .default('build')
    .describe(
      '`build`: rebuild the dashboard when its sources are newer than its build; `skip`: never (the API then warns that it is not built).',
    ),
  INFERQ_LOG_FORMAT: z
    .enum(['pretty', 'json'])
    .default('pretty')
    .describe(
      "`pretty`: one short, prefixed and colored line per log entry; `json`: the processes' JSON lines as they are.",
    ),
});

export type StackEnv = z.infer<typeof stackEnvSchema>;

/** Settings of the embedded Postgres process (`embeddedPostgres.ts`), set by the stack. */
export const embeddedPostgresEnvSchema = z.object({
  INFERQ_POSTGRES_DIR: z.string().min(1).describe("Set by `pnpm start`: the embedded server's data folder."),
  INFERQ_POSTGRES_PORT: port.describe("Set by `pnpm start`: the embedded server's port."),
  INFERQ_POSTGRES_PASSWORD: z
    .string()
    .min(1)
    .describe("Set by `pnpm start`: the `postgres` user's password, kept in `state.json`."),
});

export type EmbeddedPostgresEnv = z.infer<typeof embeddedPostgresEnvSchema>;

export function parseStackEnv(source: NodeJS.ProcessEnv): StackEnv {
  // `DATABASE_URL= pnpm start` means "not set": the embedded server, not an invalid URL.
  const set = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ''));
  return parseEnv(stackEnvSchema, 'pnpm start', set);
}

export function parseEmbeddedPostgresEnv(source: NodeJS.ProcessEnv): EmbeddedPostgresEnv {
  return parseEnv(embeddedPostgresEnvSchema, 'embedded Postgres', source);
}
