import { z } from 'zod';
import { requireSecretKeysInProduction, secretKeysEnvSchema } from '@inferq/accounts';
import { commonEnvSchema, envBoolean, envPortList, parseEnv } from '@inferq/core';

/** Every setting of the webhook dispatcher, parsed once at boot. Nothing else reads process.env. */
export const dispatcherEnvSchema = commonEnvSchema
  .pick({ NODE_ENV: true, DATABASE_URL: true, REDIS_URL: true, QUEUE_PREFIX: true, LOG_LEVEL: true })
  .extend({
    /** Deliveries in flight at once. */
    WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16),
    /** Longest one delivery attempt may take. */
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
    /** Tries in all; with the delays below the default spans about 22 h. */
    WEBHOOK_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(16),
    WEBHOOK_RETRY_FIRST_DELAY_MS: z.coerce.number().int().min(10).default(30_000),
    WEBHOOK_RETRY_MAX_DELAY_MS: z.coerce.number().int().min(10).default(3 * 3600_000),
    /** How often final jobs whose webhook was never enqueued are looked for; 0 turns it off. */
    WEBHOOK_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(30_000),
    /**
     * Development and tests only: deliver to loopback addresses (127.0.0.0/8, ::1) over http.
     * Every other private, link-local or reserved address is always refused. Refused in production.
     */
    WEBHOOK_ALLOW_LOOPBACK: envBoolean.default(false),
    /** Ports a webhook URL may name besides 80 and 443, comma-separated; the API's value. */
    WEBHOOK_ALLOW_PORTS: envPortList.default([]),
    /** The API's keys of the webhook signing secrets (see the API's env); required in production. */
    WEBHOOK_SECRET_KEYS: secretKeysEnvSchema.optional(),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(15_000),
  })
  .superRefine((env, ctx) => {
    requireSecretKeysInProduction(env, ctx);
    if (env.WEBHOOK_ALLOW_LOOPBACK && env.NODE_ENV === 'production') {
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_ALLOW_LOOPBACK'], message: 'must not be set in production' });
    }
  });

export type DispatcherEnv = z.infer<typeof dispatcherEnvSchema>;

export function parseDispatcherEnv(source: NodeJS.ProcessEnv): DispatcherEnv {
  return parseEnv(dispatcherEnvSchema, 'webhook dispatcher', source);
}
