import { z } from 'zod';
import { requireSecretKeysInProduction, secretKeysEnvSchema, tierOverridesEnvSchema } from '@inferq/accounts';
import { commonEnvSchema, envBoolean, envPortList, parseEnv } from '@inferq/core';
import { defaultMaxQueuedJobs } from '@inferq/jobs';
import { blobStoreEnvShape } from '@inferq/storage';
import { defaultMaxConcurrentSubmits } from './http/submitSlots.ts';
import { parseTrustProxy } from './http/trustProxy.ts';

/** Every setting of the API, parsed once at boot. Nothing else reads process.env. */
export const apiEnvSchema = commonEnvSchema.extend({
  ...blobStoreEnvShape,
  INPUT_FETCH_ALLOW_HOSTS: z
    .string()
    .default('')
    .transform((text) => text.split(',').map((host) => host.trim()).filter((host) => host.length > 0))
    .describe(
      'Hosts an imageUrl may name although they resolve to private addresses (an internal image store), comma-separated, matched exactly; plain http is allowed to them. Allowed in production. Empty: only https to public addresses.',
    ),
  INPUT_FETCH_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000).describe('The whole fetch of an imageUrl (connect, answer, body) must end within this; past it the submit is answered 422 INPUT_FETCH_FAILED.'),
  UPLOAD_TTL_SECONDS: z.coerce.number().int().min(60).max(7 * 24 * 3600).default(900).describe('How long an upload URL (POST /v1/uploads) stays valid, and an upload waits for its submit.'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  DEFAULT_MODEL: z.string().default('nsfw'),
  /** Largest upload accepted, in bytes. */
  MAX_UPLOAD_BYTES: z.coerce.number().int().positive().default(10 * 1024 * 1024),
  MAX_IMAGE_PIXELS: z.coerce.number().int().positive().default(40_000_000),
  /** A lower pixel limit for AVIF, which costs about eight times JPEG's CPU per pixel to decode. */
  MAX_AVIF_PIXELS: z.coerce.number().int().positive().default(16_000_000),
  MIN_IMAGE_SIDE: z.coerce.number().int().positive().default(32),
  MAX_IMAGE_SIDE: z.coerce.number().int().positive().default(8192),
  /**
   * Store (and serve back from GET /v1/jobs/:id/image) uploads with their metadata as sent. Off by
   * default: EXIF (GPS, Artist, Copyright, maker notes), XMP, IPTC and comments are cut out of what
   * is stored, losslessly, keeping only the EXIF orientation so the image still displays upright.
   */
  KEEP_IMAGE_METADATA: envBoolean.default(false),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /**
   * The proxies in front of the API whose X-Forwarded-For is believed: `false` (none), a hop count
   * (`1` behind one load balancer), or their addresses/subnets (`10.0.0.0/8,loopback`). `true` is
   * refused: see http/trustProxy.ts.
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((text, ctx) => {
      try {
        return parseTrustProxy(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** Queued + running jobs across all users above which submissions get 503 QUEUE_FULL. */
  MAX_QUEUED_JOBS: z.coerce.number().int().positive().default(defaultMaxQueuedJobs),
  /**
   * Make the model's pixels with the decode that validates each upload and hand them to the
   * worker through Redis, so the worker runs the model without decoding the image again (the
   * job's one decode). false: the API only checks each image and workers decode it.
   */
  PREPARE_MODEL_PIXELS: envBoolean.default(true),
  /**
   * Bytes of model pixels Redis may hold for queued jobs, judged as (jobs in flight + 1) × one
   * job's pixels; past it, submits only check the image and the worker decodes it. 0: never hand
   * pixels over.
   */
  PIXEL_HANDOFF_MAX_BYTES: z.coerce.number().int().nonnegative().default(512 * 1024 * 1024),
  /**
   * Which pixels are handed over: `worthwhile` (small ones, or 8-bit ones from an image of at
   * least twice the input's pixels) or `always` (also exact float pixels, such as nsfw's 602 kB).
   */
  PIXEL_HANDOFF: z.enum(['worthwhile', 'always']).default('worthwhile'),
  /** How long handed-over pixels wait in Redis for their job to start (then the worker decodes the upload). */
  PIXEL_HANDOFF_TTL_MS: z.coerce.number().int().positive().default(600_000),
  /** Submissions one API process validates and stores at once; more are answered 503 SERVER_BUSY. */
  MAX_CONCURRENT_SUBMITS: z.coerce.number().int().positive().default(defaultMaxConcurrentSubmits),
  /** Bytes of upload bodies one API process holds in memory at once (reserved by declared length before reading). */
  MAX_UPLOAD_MEMORY_BYTES: z.coerce.number().int().positive().default(256 * 1024 * 1024),
  /** Pixels (width × height, as image headers declare them) one API process decodes at once; ~1.5 bytes of memory each. */
  MAX_DECODE_PIXELS: z.coerce.number().int().positive().default(160_000_000),
  /**
   * Longest a submit waits for its turn at a busy resource (submit slots, upload memory,
   * decoding) in its user's fair queue before it is answered 429 CONCURRENCY_LIMITED (its user
   * holds a fair share already) or 503 SERVER_BUSY.
   */
  ADMISSION_MAX_WAIT_MS: z.coerce.number().int().nonnegative().default(5000),
  /** Requests one of the 64 fair queues of a resource holds at most; past it a request is refused at once. */
  ADMISSION_QUEUE_LENGTH: z.coerce.number().int().positive().default(128),
  /**
   * JSON changes to the built-in tiers, field by field, e.g. {"free":{"submitsPerWindow":30}};
   * a new name adds a tier that starts from free.
   */
  TIER_OVERRIDES: tierOverridesEnvSchema.optional(),
  /**
   * Hosts that models may be registered from although they resolve to private addresses (an
   * internal model store), comma-separated, matched exactly; http is allowed to them. Empty: only
   * https to public addresses.
   */
  MODEL_FETCH_ALLOW_HOSTS: z
    .string()
    .default('')
    .transform((text) => text.split(',').map((host) => host.trim()).filter((host) => host.length > 0)),
  /** The whole download of a model registered by URL (model.json and every shard) must end within this. */
  MODEL_FETCH_DEADLINE_MS: z.coerce.number().int().positive().default(300_000),
  /** Largest model (all files) that may be registered by URL, in bytes. */
  MAX_MODEL_BYTES: z.coerce.number().int().positive().default(512 * 1024 * 1024),
  /**
   * How long the principal of a recently presented API key is reused without a Postgres lookup
   * (PrincipalCache; any change to keys or users empties it through a Postgres notification).
   * 0: look up every request.
   */
  AUTH_CACHE_TTL_MS: z.coerce.number().int().min(0).default(60_000),
  /** Requests per minute one address may make to the public model files before it gets 429. */
  PUBLIC_REQUESTS_PER_MINUTE: z.coerce.number().int().positive().default(300),
  /**
   * When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>` (at least 16 characters).
   * Unset: /metrics is open; then keep it off the public network.
   */
  METRICS_TOKEN: z.string().min(16).optional(),
  /** Failed authentications per minute from one address before it is refused without a key lookup. */
  AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().positive().default(30),
  /** The dashboard's build folder (`pnpm --filter @inferq/dashboard build`), served under /dashboard. */
  DASHBOARD_DIR: z.string().default('apps/dashboard/dist'),
  /** Live event streams (GET /v1/events) one API process holds at most. */
  MAX_EVENT_STREAMS: z.coerce.number().int().positive().default(2000),
  /** Of those, one user's at most; more are answered 429 CONCURRENCY_LIMITED. */
  MAX_EVENT_STREAMS_PER_USER: z.coerce.number().int().positive().default(50),
  /**
   * Development only: an admin key (shape iq_<12 hex>_<43 base64url>) created at start so a new
   * install can be used at once. Refused when NODE_ENV=production.
   */
  DEV_ADMIN_KEY: z.string().optional(),
  /**
   * Development and tests only: accept http:// webhook URLs on loopback hosts. Otherwise webhooks
   * must be https to public addresses. Refused when NODE_ENV=production.
   */
  WEBHOOK_ALLOW_LOOPBACK: envBoolean.default(false),
  /** Ports a webhook URL may name besides 80 and 443, comma-separated (`8443,9443`). */
  WEBHOOK_ALLOW_PORTS: envPortList.default([]),
  /**
   * Keys that encrypt webhook signing secrets at rest (AES-256-GCM): `id:base64` of 32 bytes,
   * comma-separated, the current key first, older ones after it until `pnpm admin
   * webhook-secrets reencrypt` has moved every secret. Required in production; unset elsewhere,
   * secrets are stored in clear and the API says so at start.
   */
  WEBHOOK_SECRET_KEYS: secretKeysEnvSchema.optional(),
}).superRefine((env, ctx) => {
  requireSecretKeysInProduction(env, ctx);
  if (env.MAX_EVENT_STREAMS_PER_USER > env.MAX_EVENT_STREAMS) {
    ctx.addIssue({ code: 'custom', path: ['MAX_EVENT_STREAMS_PER_USER'], message: 'must not exceed MAX_EVENT_STREAMS' });
  }
  if (env.DEV_ADMIN_KEY && env.NODE_ENV === 'production') {
    ctx.addIssue({ code: 'custom', path: ['DEV_ADMIN_KEY'], message: 'must not be set in production' });
  }
  if (env.WEBHOOK_ALLOW_LOOPBACK && env.NODE_ENV === 'production') {
    ctx.addIssue({ code: 'custom', path: ['WEBHOOK_ALLOW_LOOPBACK'], message: 'must not be set in production' });
  }
});

export type ApiEnv = z.infer<typeof apiEnvSchema>;

export function parseApiEnv(source: NodeJS.ProcessEnv): ApiEnv {
  return parseEnv(apiEnvSchema, 'API', source);
}
