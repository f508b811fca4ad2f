import { z } from 'zod';
import { requireSecretKeysInProduction, secretKeysEnvSchema } from '@inferq/accounts';
import { commonEnvSchema, envBoolean, envPortList, parseEnv } from '@inferq/core';

/** Every setting of the webhook dispatcher, parsed once at boot. Nothing else reads process.env. */
export const dispatcherEnvSchema = commonEnvSchema
  .pick({ NODE_ENV: true, DATABASE_URL: true, REDIS_URL: true, QUEUE_PREFIX: true, LOG_LEVEL: true })
  .extend({
    WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16).describe('Deliveries in flight at once.'),
    WEBHOOK_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(10_000)
      .describe('Longest one delivery attempt may take; the receiver must answer `2xx` within it.'),
    WEBHOOK_ATTEMPTS: z.coerce
      .number()
      .int()
      .min(1)
      .max(50)
      .default(16)
      .describe('Tries in all; with the delays below the default spans about 22 h.'),
    WEBHOOK_RETRY_FIRST_DELAY_MS: z.coerce
      .number()
      .int()
      .min(10)
      .default(30_000)
      .describe('Delay before the first retry; each next one doubles it.'),
    WEBHOOK_RETRY_MAX_DELAY_MS: z.coerce
      .number()
      .int()
      .min(10)
      .default(3 * 3600_000)
      .describe('Cap of the doubling retry delay.'),
    WEBHOOK_SWEEP_INTERVAL_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe(
        'How often final jobs whose webhook was never enqueued (events missed while the dispatcher was down) are looked for; `0` turns it off.',
      ),
    WEBHOOK_ALLOW_LOOPBACK: envBoolean
      .default(false)
      .describe(
        'Development and tests only: deliver to loopback addresses (127.0.0.0/8, ::1) over http, on any port; every other private, link-local or reserved address is always refused. Refused in production.',
      ),
    WEBHOOK_ALLOW_PORTS: envPortList
      .default([])
      .describe("The API's value: ports besides 80 and 443 that deliveries may connect to, comma-separated."),
    WEBHOOK_SECRET_KEYS: secretKeysEnvSchema
      .optional()
      .describe("The API's value: the keys the webhook signing secrets are encrypted with; required in production."),
    SHUTDOWN_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .positive()
      .default(15_000)
      .describe('How long deliveries in flight get on SIGTERM.'),
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
