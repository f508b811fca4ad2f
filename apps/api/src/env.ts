import { z } from 'zod';
import { requireSecretKeysInProduction, secretKeysEnvSchema, tierOverridesEnvSchema } from '@inferq/accounts';
import { commonEnvSchema, envBoolean, envHostList, envPortList, parseEnv } from '@inferq/core';
import { defaultMaxQueuedJobs } from '@inferq/jobs';
import { blobStoreEnvShape } from '@inferq/storage';
import { defaultMaxConcurrentSubmits } from './http/submitSlots.ts';
import { parseTrustProxy } from './http/trustProxy.ts';

/**
 * Every setting of the API, parsed once at boot. Nothing else reads process.env. The `.describe()`
 * texts are the settings page (`pnpm docs:settings`).
 */
export const apiEnvSchema = commonEnvSchema
  .extend({
    ...blobStoreEnvShape,
    INPUT_FETCH_ALLOW_HOSTS: envHostList.describe(
      'Hosts an imageUrl may name although they resolve to private addresses (an internal image store), comma-separated, matched exactly; plain http is allowed to them. Allowed in production. Empty: only https to public addresses.',
    ),
    INPUT_FETCH_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe(
        'The whole fetch of an imageUrl (connect, answer, body) must end within this; past it the submit is answered 422 INPUT_FETCH_FAILED.',
      ),
    UPLOAD_TTL_SECONDS: z.coerce
      .number()
      .int()
      .min(60)
      .max(7 * 24 * 3600)
      .default(900)
      .describe('How long an upload URL (POST /v1/uploads) stays valid, and an upload waits for its submit.'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000).describe('The port the API listens on.'),
    HOST: z.string().default('0.0.0.0').describe('The address the API listens on.'),
    DEFAULT_MODEL: z.string().default('nsfw').describe('The model a job gets when it names none.'),
    MAX_UPLOAD_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(10 * 1024 * 1024)
      .describe('Largest upload in bytes, for every tier (a tier may only lower it); past it `413 IMAGE_TOO_LARGE`.'),
    MAX_IMAGE_PIXELS: z.coerce
      .number()
      .int()
      .positive()
      .default(40_000_000)
      .describe(
        'Largest width × height, read from the header before decoding (decompression bombs); past it `413 IMAGE_TOO_LARGE`.',
      ),
    MAX_AVIF_PIXELS: z.coerce
      .number()
      .int()
      .positive()
      .default(16_000_000)
      .describe(
        "A lower pixel limit for AVIF, which costs about eight times JPEG's decode CPU per pixel; past it `413 IMAGE_TOO_LARGE` naming the format.",
      ),
    MIN_IMAGE_SIDE: z.coerce
      .number()
      .int()
      .positive()
      .default(32)
      .describe('Shortest allowed width or height; below it `422 IMAGE_DIMENSIONS`.'),
    MAX_IMAGE_SIDE: z.coerce
      .number()
      .int()
      .positive()
      .default(8192)
      .describe('Longest allowed width or height; above it `422 IMAGE_DIMENSIONS`.'),
    KEEP_IMAGE_METADATA: envBoolean
      .default(false)
      .describe(
        'Store and serve back (`GET /v1/jobs/:id/image`) uploads with their metadata as sent. Off: EXIF (GPS, Artist, Copyright, maker notes), XMP, IPTC and comments are cut out losslessly, the orientation kept (see [security](../security.md)).',
      ),
    SHUTDOWN_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('How long in-flight requests get on SIGTERM.'),
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
      })
      .describe(
        'The proxies whose `X-Forwarded-For` is believed for the client address (the key of the per-address limits): `false` none, a hop count (`1` behind one load balancer), or their addresses/subnets (`10.0.0.0/8,loopback`). `true` is refused at start: it would let any client choose its address (see [security](../security.md)).',
      ),
    SHADOW_BACKLOG_MAX: z.coerce
      .number()
      .int()
      .min(0)
      .default(1000)
      .describe(
        "Shadow runs waiting per model (a traffic split's `shadow` version) above which new ones are dropped and counted; a primary job is never refused for its shadow.",
      ),
    MAX_QUEUED_JOBS: z.coerce
      .number()
      .int()
      .positive()
      .default(defaultMaxQueuedJobs)
      .describe(
        'Jobs queued, running or delayed for a retry across all users above which submissions get `503 QUEUE_FULL` (with `Retry-After`) before anything is written.',
      ),
    PREPARE_MODEL_PIXELS: envBoolean
      .default(true)
      .describe(
        "Make the model's input pixels with the decode that validates each upload and hand them to the worker through Redis, so that decode is the job's only one (the worker scales the pixels into its tensor). `false`: the API only checks each image (for JPEG a DCT-domain decode at 1/8 scale) and workers decode it.",
      ),
    PIXEL_HANDOFF_MAX_BYTES: z.coerce
      .number()
      .int()
      .nonnegative()
      .default(512 * 1024 * 1024)
      .describe(
        "Bytes of handed-over pixels Redis may hold, judged as (jobs in flight + 1) × one job's pixels (602 kB for nsfw); past it submits only check the image and the worker decodes it, so a deep queue never turns into gigabytes of Redis. `0`: never hand pixels over.",
      ),
    PIXEL_HANDOFF: z
      .enum(['worthwhile', 'always'])
      .default('worthwhile')
      .describe(
        "Which pixels are handed over: `worthwhile` (from any format but JPEG, whose check decodes every pixel anyway: small ones such as mnist's, and any from an image of at least twice the input's pixels, nsfw's 602 kB of exact floats too) or `always` (also from a JPEG, which then gets a sharp pipeline at submit instead of its 1/8 DCT-domain check, in the one process every user's requests share).",
      ),
    PIXEL_HANDOFF_TTL_MS: z.coerce
      .number()
      .int()
      .positive()
      .default(600_000)
      .describe(
        'How long handed-over pixels wait in Redis for their job to start; then the worker decodes the stored upload.',
      ),
    MAX_CONCURRENT_SUBMITS: z.coerce
      .number()
      .int()
      .positive()
      .default(defaultMaxConcurrentSubmits)
      .describe(
        'Submissions one API process validates and stores at once, a fair queue between users; past its bounded wait `503 SERVER_BUSY` (or `429 CONCURRENCY_LIMITED` for a user holding their share). Lower it where the API shares few cores with workers: answers stay fast and the excess is refused instead of every upload slowing down.',
      ),
    MAX_ENTERING_SUBMITS_PER_USER: z.coerce
      .number()
      .int()
      .positive()
      .default(8)
      .describe(
        "Submissions of one user that an API process authenticates and reads at once before their turn for a slot; the user's others wait unread at the door, so a flood's early work never runs ahead of another user's request. One user alone loses nothing: the next goes in as soon as one ahead takes its slot.",
      ),
    MAX_UPLOAD_MEMORY_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(256 * 1024 * 1024)
      .describe(
        'Upload bytes one API process holds in memory (reserved by `Content-Length` before reading), a fair queue between users; a quarter of it is the largest batch body.',
      ),
    MAX_DECODE_PIXELS: z.coerce
      .number()
      .int()
      .positive()
      .default(160_000_000)
      .describe(
        "Decode cost one API process runs at once (declared pixels × the format's weight: JPEG and GIF 1, PNG and TIFF 2, WebP 4, AVIF 8; about 1.5 bytes of memory a pixel), a fair queue between users; submits' checks and thumbnails alike.",
      ),
    ADMISSION_MAX_WAIT_MS: z.coerce
      .number()
      .int()
      .nonnegative()
      .default(5000)
      .describe(
        'Longest a request waits for its turn at a busy resource (submit slots, upload memory, decoding) before `429 CONCURRENCY_LIMITED` (its user holds a fair share already) or `503 SERVER_BUSY` (see [queues and fairness](../concepts/queues-and-fairness.md)).',
      ),
    ADMISSION_QUEUE_LENGTH: z.coerce
      .number()
      .int()
      .positive()
      .default(128)
      .describe("Requests one of a resource's 64 fair queues holds; past it a request is refused at once."),
    TIER_OVERRIDES: tierOverridesEnvSchema
      .optional()
      .describe(
        'JSON changes to the tiers, field by field, e.g. `{"free":{"submitsPerWindow":30,"maxJobsInFlight":50}}`; a new name adds a tier starting from `free`; unknown fields and reserved names (`constructor`, `__proto__`, `prototype`, …) stop the API at start. Give the admin CLI the same value.',
      ),
    MODEL_FETCH_ALLOW_HOSTS: envHostList.describe(
      'Comma-separated hosts (an internal model store) that models may be registered from although they resolve to private addresses, matched exactly; plain http is allowed to them. Empty: https to public addresses only.',
    ),
    MODEL_FETCH_DEADLINE_MS: z.coerce
      .number()
      .int()
      .positive()
      .default(300_000)
      .describe(
        'The whole download of a model registered by URL (model.json and every shard) must finish within this.',
      ),
    MAX_MODEL_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(512 * 1024 * 1024)
      .describe('Largest model (all files) registered by URL, in bytes.'),
    AUTH_CACHE_TTL_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(60_000)
      .describe(
        'How long the owner of a recently presented key is reused without a Postgres read (emptied on every change to keys and users through a Postgres notification; off while that connection is down). `0`: read Postgres on every request.',
      ),
    PUBLIC_REQUESTS_PER_MINUTE: z.coerce
      .number()
      .int()
      .positive()
      .default(300)
      .describe('Requests per minute one address may make to the public model files before `429 RATE_LIMITED`.'),
    METRICS_TOKEN: z
      .string()
      .min(16)
      .optional()
      .describe(
        'When set (16+ characters), `GET /metrics` needs `Authorization: Bearer <token>` and no API key opens it; unset, keep `/metrics` off the public network. The worker takes the same value.',
      ),
    AUTH_FAILURES_PER_MINUTE: z.coerce
      .number()
      .int()
      .positive()
      .default(30)
      .describe(
        'Failed authentications from one address per minute before its failing requests get 429 instead of 401 (valid keys from it still pass).',
      ),
    DASHBOARD_DIR: z
      .string()
      .default('apps/dashboard/dist')
      .describe(
        "The dashboard's build folder, served under `/dashboard`; missing, `/dashboard` says how to build it and the API runs as usual.",
      ),
    MAX_EVENT_STREAMS: z.coerce
      .number()
      .int()
      .positive()
      .default(2000)
      .describe('Live event streams (`GET /v1/events`) one API process holds; past it `503 TOO_MANY_STREAMS`.'),
    MAX_EVENT_STREAMS_PER_USER: z.coerce
      .number()
      .int()
      .positive()
      .default(50)
      .describe("Of those, one user's at most; past it `429 CONCURRENCY_LIMITED`."),
    DEV_ADMIN_KEY: z
      .string()
      .optional()
      .describe(
        'Development only: an admin key (`iq_<12 hex>_<43 base64url>`) created at start so a new install can be used at once; refused when `NODE_ENV=production`.',
      ),
    WEBHOOK_ALLOW_LOOPBACK: envBoolean
      .default(false)
      .describe(
        'Development and tests only: accept `http://` webhooks on loopback hosts; otherwise webhooks must be https to public addresses. Refused when `NODE_ENV=production`.',
      ),
    WEBHOOK_ALLOW_PORTS: envPortList
      .default([])
      .describe(
        'Ports a webhook URL may name besides 80 and 443, comma-separated (`8443,9443`); the same value on the dispatcher. Any other port is `400 INVALID_WEBHOOK_URL` (`details.reason: port`) at submit and refused at delivery.',
      ),
    WEBHOOK_SECRET_KEYS: secretKeysEnvSchema
      .optional()
      .describe(
        "Keys that encrypt the webhook signing secrets at rest (AES-256-GCM, the key's id stored with each secret): `id:base64` of 32 bytes, comma-separated, the current key first (`k2:…,k1:…`); the same value on the API, the webhook dispatcher and the admin CLI. Required in production; unset elsewhere, secrets are stored in clear and the API says so at start. To rotate: put a new key first, keep the old one after it, run `pnpm admin webhook-secrets reencrypt`, then drop the old key.",
      ),
  })
  .superRefine((env, ctx) => {
    requireSecretKeysInProduction(env, ctx);
    if (env.MAX_EVENT_STREAMS_PER_USER > env.MAX_EVENT_STREAMS) {
      ctx.addIssue({
        code: 'custom',
        path: ['MAX_EVENT_STREAMS_PER_USER'],
        message: 'must not exceed MAX_EVENT_STREAMS',
      });
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
