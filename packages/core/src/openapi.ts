import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import {
  accountDeletionViewSchema,
  adminJobListViewSchema,
  adminJobViewSchema,
  apiKeyListViewSchema,
  apiKeyViewSchema,
  createdUserViewSchema,
  createUserBodySchema,
  deleteAccountBodySchema,
  issuedApiKeyViewSchema,
  issueKeyBodySchema,
  jobListViewSchema,
  tierListViewSchema,
  updateUserBodySchema,
  userDetailViewSchema,
  userListViewSchema,
  userViewSchema,
} from './accountsWire.ts';
import { accountViewSchema, queueSnapshotSchema, statsSeriesSchema } from './dashboardWire.ts';
import { jobEventSchema } from './jobEvent.ts';
import {
  inferRequestSchema,
  inferResponseSchema,
  protocolErrorSchema,
  protocolModelMetadataSchema,
  protocolServerMetadataSchema,
} from './inferenceProtocolWire.ts';
import { errorCodes, errorStatus, type ErrorCode } from './errors.ts';
import {
  modelsViewSchema,
  modelViewSchema,
  publishModelVersionBodySchema,
  setLiveVersionBodySchema,
} from './modelsWire.ts';
import { modelComparisonSchema, modelRollbackSchema, putTrafficBodySchema, trafficViewSchema } from './rolloutWire.ts';
import {
  admissionViewSchema,
  cleanJobsBodySchema,
  cleanJobsViewSchema,
  queueControlViewSchema,
  historyViewSchema,
  redeliverWebhooksBodySchema,
  redeliveryViewSchema,
  retryFailedBodySchema,
  retryFailedViewSchema,
  retryJobsBodySchema,
  retryJobsViewSchema,
} from './operatorWire.ts';
import { jobStatuses } from './types.ts';
import {
  batchViewSchema,
  errorBodySchema,
  jobViewSchema,
  maxWaitSeconds,
  createUploadBodySchema,
  submitBatchFormSchema,
  submitBatchJsonSchema,
  submitJobFormSchema,
  submitJobJsonSchema,
  uploadViewSchema,
  webhookDeliveryListViewSchema,
  webhookEvents,
  webhookSecretViewSchema,
} from './wire.ts';

/**
 * The OpenAPI 3.1 document of the public HTTP API, generated from the same zod schemas the API
 * answers through (zod-openapi renders them with zod's own JSON Schema output). Served by the API
 * at /openapi.json; the typed client's types are generated from it.
 */

/** Codes a job can fail with: stored on the job (`error.code`), never an HTTP answer. */
export const jobFailureCodes: readonly ErrorCode[] = [
  'UNKNOWN_MODEL',
  'INPUT_MISSING',
  'PREPROCESSING_FAILED',
  'INFERENCE_FAILED',
  'TIMEOUT',
  'JOB_LOST',
  'DATABASE_UNAVAILABLE',
  'INTERNAL',
].filter((code): code is ErrorCode => code in errorStatus);

const jsonError = { 'application/json': { schema: errorBodySchema } };

const retryAfter = z.string().meta({ description: 'Seconds to wait before trying again.', example: '5' });

/** Error answers of a route, grouped by status; each description names the codes it can carry. */
function errors(...codes: ErrorCode[]): ZodOpenApiResponsesObject {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(errorStatus[code], [...(byStatus.get(errorStatus[code]) ?? []), code]);
  const responses: ZodOpenApiResponsesObject = {};
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status) as `${1 | 2 | 3 | 4 | 5}${string}`] = {
      description: `Error: ${group.map((code) => `\`${code}\``).join(', ')}.`,
      ...(status === 429 || status === 503 ? { headers: z.object({ 'Retry-After': retryAfter }) } : {}),
      content: jsonError,
    };
  }
  return responses;
}

/** Errors of the /v2 routes: the protocol's `{ "error": "…" }` with the code beside it. */
function protocolErrors(...codes: ErrorCode[]): ZodOpenApiResponsesObject {
  const responses = errors(...codes);
  for (const response of Object.values(responses))
    (response as { content: unknown }).content = { 'application/json': { schema: protocolErrorSchema } };
  return responses;
}

const protocolModelPath = z.object({ name: z.string().meta({ example: 'sentiment' }) });
const protocolVersionPath = protocolModelPath.extend({ version: z.string().meta({ example: '1' }) });

/** The same operation on `/v2/models/{name}…` and `/v2/models/{name}/versions/{version}…`. */
function protocolModelRoutes(
  suffix: string,
  make: (versioned: boolean) => ZodOpenApiOperationObject,
  method: 'get' | 'post',
) {
  return {
    [`/v2/models/{name}${suffix}`]: { [method]: make(false) },
    [`/v2/models/{name}/versions/{version}${suffix}`]: { [method]: make(true) },
  };
}

const inferDescription = [
  "The Open Inference Protocol's (KServe v2) inference, over the job queue: the request becomes a job with the same keys, rate limits, quotas, fairness, priorities, webhooks (`parameters.webhook`) and `Idempotency-Key` as `POST /v1/jobs`.",
  '',
  "By default the request waits for the job (at most 60 s, or `Prefer: wait=N`) and answers `200` with the protocol's response; `Content-Location` names the job. With `Prefer: respond-async` it answers `202` with `Location: /v1/jobs/{id}` and the job at once (also when the wait runs out); the finished job's `result.outputs` are the same outputs.",
  '',
  "**Binary data extension.** Send `Inference-Header-Content-Length: <bytes of the JSON header>` and the inputs' bytes (little-endian, row-major) after the header, each input with `parameters.binary_data_size`. Outputs asked for with `parameters.binary_data: true` (or the request's `binary_data_output`) come back the same way (`application/octet-stream`, `Inference-Header-Content-Length`).",
  '',
  'A wrong input name, datatype, shape or element count is `400 INVALID_TENSOR`; an unknown model `404 MODEL_NOT_FOUND`; an image model `400 MODEL_KIND_MISMATCH` (send images to `POST /v1/jobs`).',
].join('\n');

/** Errors any authenticated route can answer. */
const authenticated: ErrorCode[] = ['UNAUTHENTICATED', 'RATE_LIMITED', 'DATABASE_UNAVAILABLE', 'INTERNAL'];
const adminOnly: ErrorCode[] = [...authenticated, 'FORBIDDEN'];

const jobId = z.string().meta({
  description: 'The job id (a UUID). Any other string is answered 404 JOB_NOT_FOUND.',
  example: '5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11',
});
const jobPath = z.object({ id: jobId });

const json = (schema: z.ZodType) => ({ 'application/json': { schema } });

const jobHeaders = z.object({
  ETag: z.string().meta({ description: 'Weak validator of this representation; send it back in If-None-Match.' }),
  Location: z.string().optional().meta({ description: 'The job (on submit).' }),
  'Preference-Applied': z.string().optional().meta({
    description:
      'The wait applied, e.g. `wait=60`, when `Prefer: wait` or `?wait=` asked for one (clamped to the longest wait).',
  }),
});

const preferHeader = z
  .string()
  .optional()
  .meta({
    description: `RFC 7240 preference. \`wait=N\`: hold the answer until the job is final or N seconds pass (clamped to ${maxWaitSeconds}); a bare \`wait\` waits ${maxWaitSeconds}. \`Preference-Applied\` says what was applied.`,
    example: 'wait=30',
  });

const listQuery = z.object({
  status: z
    .string()
    .optional()
    .meta({ description: `Comma-separated statuses: ${jobStatuses.join(', ')}.`, example: 'succeeded,failed' }),
  model: z.string().optional().meta({ description: 'Comma-separated model names.', example: 'nsfw' }),
  version: z.string().optional().meta({
    description: 'Comma-separated versions: the one that ran the job, else (not run yet) the one asked for.',
    example: '4.4.0',
  }),
  errorCode: z
    .string()
    .optional()
    .meta({ description: 'Comma-separated failure codes (`error.code` of failed jobs).', example: 'INFERENCE_FAILED' }),
  createdAfter: z.iso
    .datetime({ offset: true })
    .optional()
    .meta({ description: 'Jobs submitted at or after this instant.', example: '2026-12-05T00:00:00Z' }),
  createdBefore: z.iso
    .datetime({ offset: true })
    .optional()
    .meta({ description: 'Jobs submitted before this instant.', example: '2026-12-06T00:00:00Z' }),
  metadata: z
    .record(z.string(), z.string())
    .optional()
    .meta({
      description: '`metadata[KEY]=VALUE`: jobs whose metadata has every key given with exactly that value.',
      param: { style: 'deepObject', explode: true },
    }),
  cursor: z.string().optional().meta({ description: '`nextCursor` of the previous page.' }),
  limit: z.int().min(1).max(100).optional().meta({ description: 'Page size, 1 to 100 (default 20).', example: 20 }),
});

const userParam = z.object({ user: z.string().meta({ description: 'User id or email.' }) });

const modelParams = z.object({
  name: z.string().meta({ description: 'Model name.', example: 'mnist' }),
  version: z.string().meta({ description: 'Model version.', example: '1.0.0' }),
  file: z.string().meta({ description: '`model.json`, `manifest.json` or a shard.', example: 'model.json' }),
});

/** The stored input formats, as `GET /v1/jobs/{id}/image` answers them (sniffed from the bytes at upload). */
const imageTypes = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif', 'image/tiff'] as const;

const eventStreamDescription = [
  "A `text/event-stream` (server-sent events) that stays open. It needs the `Authorization` header, which the browser's `EventSource` cannot send: read it with `fetch` (or an SSE library that sets headers). Each event's `data` is one line of JSON:",
  '',
  '| event | to whom | data |',
  '|---|---|---|',
  '| `ready` | everyone, once, first | `{ "role": "user" \\| "admin", "resumed": boolean }`: unless `resumed`, re-read what you show (events from before it are not replayed) |',
  "| `job` | the job's owner; admins get every job | a `JobEvent`: a job changed status. Its `id:` orders it: send the last one back as `Last-Event-ID` when you reconnect |",
  '| `reset` | after `ready`, when resuming from an id older than the events kept | `{ "reason": "retention" \\| "unavailable", "lastEventId" }`: some events may be missing, re-read what you show |',
  '| `end` | per-job streams only, after the job\'s final event | `{ "jobId" }`: then the stream closes |',
  '| `queue` | admins, every 2 s (the last one at once) | a `QueueSnapshot`, as `GET /v1/admin/overview` answers it |',
  '| `error` | then the stream ends | an `Error` body (`QUEUE_UNAVAILABLE`): reconnect later |',
  '',
  'The stream starts with `retry: 3000` and sends a `: ping` comment every 15 s so proxies keep it open. Job events are kept for the retention window (EVENTS_RETENTION_MS, 10 min by default, at most EVENTS_MAX_LENGTH events): a client that reconnects with `Last-Event-ID` (the header, as `EventSource` sends it, or `?lastEventId=`) gets every job event after that id first, then the live ones, each once. Without it, a client that must not miss a final state reads the job once after `ready`. A client that reads too slowly (1 MiB buffered) is disconnected.',
].join('\n');

const lastEventIdHeader = z.string().optional().meta({
  description:
    'The `id` of the last job event received: the events after it, kept for the retention window, are sent first.',
  example: '1733459123456-0',
});

/** `Cancel-After`, as Replicate's header: the execution deadline of each attempt. */
const cancelAfterHeader = z.string().optional().meta({
  description:
    'Execution deadline of each attempt: seconds (`90`) or a duration (`90s`, `5m`, `1h30m`, `500ms`), from 100 ms to 24 h. An attempt running longer fails with DEADLINE_EXCEEDED. Wins over the `cancelAfter` form field.',
  example: '5m',
});

const statsQuery = z.object({
  window: z
    .int()
    .min(60)
    .max(604800)
    .optional()
    .meta({ description: 'Seconds back from now, 60 to 604800 (default 3600).', example: 3600 }),
  bucket: z.int().min(1).max(86400).optional().meta({
    description: 'Bucket width in seconds, 1 to 86400 (default 60); at most 500 buckets per window.',
    example: 60,
  }),
});

const publishedVersionSchema = z.object({
  status: z.enum(['written', 'unchanged', 'updated']),
  version: z.string(),
  sha256: z.string(),
  model: modelViewSchema,
});

function operation(op: ZodOpenApiOperationObject): ZodOpenApiOperationObject {
  return op;
}

function errorCodeTable(): string {
  const rows = errorCodes.map(
    (code) => `| \`${code}\` | ${errorStatus[code]} | ${jobFailureCodes.includes(code) ? 'yes' : ''} |`,
  );
  return ['| code | HTTP status | can be a job failure |', '|---|---|---|', ...rows].join('\n');
}

export interface OpenApiDocumentOptions {
  /** Servers listed in the document. @defaultValue [{ url: '/' }] */
  servers?: Array<{ url: string; description?: string }>;
}

/** zod gives every int the bounds of a safe integer; a document says only the bounds a value really has. */
const safeIntegerBounds = new Set([Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]);

function withoutSafeIntegerBounds<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutSafeIntegerBounds) as T;
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).filter(
    ([key, item]) => !((key === 'minimum' || key === 'maximum') && safeIntegerBounds.has(item as number)),
  );
  return Object.fromEntries(entries.map(([key, item]) => [key, withoutSafeIntegerBounds(item)])) as T;
}

export function buildOpenApiDocument(options: OpenApiDocumentOptions = {}) {
  return withoutSafeIntegerBounds(buildDocument(options));
}

function buildDocument(options: OpenApiDocumentOptions) {
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'InferQ API',
      version: '1',
      description: [
        'Asynchronous image inference: upload an image, get a job id at once, and read the result when a worker has run the model.',
        '',
        'Authenticate every `/v1` request with `Authorization: Bearer <API key>`.',
        '',
        '**Waiting instead of polling.** `GET /v1/jobs/{id}?wait=30` (or `Prefer: wait=30`) holds the request until the job is final or the time passes; `POST /v1/jobs` with `Prefer: wait=30` answers `200` with the result when the job finishes in time, else `202`.',
        '',
        '**Conditional reads.** Job answers carry a weak `ETag`; send it as `If-None-Match` to get `304 Not Modified` while the job is unchanged.',
        '',
        '**Webhooks.** Submit with a `webhook` URL and the job is POSTed there when final, signed with your webhook secret (see the `jobFinished` webhook).',
        '',
        '**Errors.** Every error answer is `{ "error": { "code", "message", "details"? } }`. Match `code`, never `message`. All codes:',
        '',
        errorCodeTable(),
      ].join('\n'),
    },
    servers: options.servers ?? [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    components: {
      // Named in the event stream's description, not by any response schema.
      schemas: { JobEvent: jobEventSchema },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key, `iq_<12 hex>_<43 characters>`.' },
      },
    },
    tags: [
      { name: 'jobs', description: 'Submit images and read results.' },
      { name: 'account', description: "The caller's account and webhook secret." },
      { name: 'admin', description: 'Administrators only: users, keys, tiers, every job, the queue.' },
      {
        name: 'events',
        description: 'Live job status changes and, for admins, queue snapshots, as server-sent events.',
      },
      {
        name: 'models',
        description:
          'Models, versions, which is live, which workers serve them; the model files for browsers; publishing a version and making it live (admins).',
      },
      { name: 'service', description: 'Health and this document. No authentication.' },
      {
        name: 'inference protocol',
        description:
          'The Open Inference Protocol (KServe v2 REST) for tensor models: metadata, readiness and inference, sync or respond-async, JSON or binary tensors.',
      },
    ],
    paths: {
      '/v1/jobs': {
        post: operation({
          operationId: 'submitJob',
          tags: ['jobs'],
          summary: 'Submit an image',
          description:
            'Validates the image (format from the bytes, size and dimension limits), stores it and queues a job. The image comes in the multipart form, or by reference in a JSON body: `imageUrl` (fetched by the server before it answers; a URL the outbound guard refuses is 400 INVALID_INPUT_URL and never fetched, a failed fetch 422 INPUT_FETCH_FAILED) or `uploadId` (see POST /v1/uploads). With `Prefer: wait=N` the answer is held until the job is final (200) or N seconds pass (202). The same `Idempotency-Key` within 24 h answers the original job (200) instead of creating another.',
          requestParams: {
            header: z.object({
              'Idempotency-Key': z.string().optional().meta({
                description:
                  '1 to 255 visible ASCII characters; a retried submit with the same key returns the same job.',
              }),
              Prefer: preferHeader,
              'Cancel-After': cancelAfterHeader,
            }),
          },
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': { schema: submitJobFormSchema },
              'application/json': { schema: submitJobJsonSchema },
            },
          },
          responses: {
            '200': {
              description: 'The job finished while the request waited, or an earlier submit with this Idempotency-Key.',
              headers: jobHeaders,
              content: json(jobViewSchema),
            },
            '202': { description: 'Accepted and queued.', headers: jobHeaders, content: json(jobViewSchema) },
            ...errors(
              'BAD_REQUEST',
              'VALIDATION_FAILED',
              'MISSING_IMAGE',
              'INVALID_IMAGE',
              'UNKNOWN_MODEL',
              'INVALID_WEBHOOK_URL',
              'INVALID_INPUT_URL',
              'INPUT_FETCH_FAILED',
              'UPLOAD_NOT_FOUND',
              'STORAGE_UNAVAILABLE',
              'IMAGE_TOO_LARGE',
              'PAYLOAD_TOO_LARGE',
              'UNSUPPORTED_FORMAT',
              'IMAGE_DIMENSIONS',
              'IDEMPOTENCY_KEY_REUSED',
              'QUOTA_EXCEEDED',
              'CONCURRENCY_LIMITED',
              'QUEUE_FULL',
              'SERVER_BUSY',
              'QUEUE_UNAVAILABLE',
              ...authenticated,
            ),
          },
        }),
        get: operation({
          operationId: 'listJobs',
          tags: ['jobs'],
          summary: 'List your jobs',
          description: 'Newest first, paginated with an opaque cursor.',
          requestParams: { query: listQuery },
          responses: {
            '200': { description: 'A page of jobs.', content: json(jobListViewSchema) },
            ...errors('VALIDATION_FAILED', ...authenticated),
          },
        }),
      },
      '/v1/uploads': {
        post: operation({
          operationId: 'createUpload',
          tags: ['jobs'],
          summary: 'Make room for an image to submit by reference',
          description:
            "Answers where to PUT the bytes (`url`, with `headers` to send exactly as given) and the `uploadId` to submit them by, until `expiresAt`. With a bucket (BLOB_STORE_URL s3://) the URL is presigned and the bytes never pass through the API; when the API keeps blobs on its own disk, the URL is the API's own `PUT /v1/uploads/{id}`, sent with your API key.",
          requestBody: { required: true, content: json(createUploadBodySchema) },
          responses: {
            '201': { description: 'Where to PUT the bytes.', content: json(uploadViewSchema) },
            ...errors('VALIDATION_FAILED', 'IMAGE_TOO_LARGE', 'STORAGE_UNAVAILABLE', ...authenticated),
          },
        }),
      },
      '/v1/uploads/{id}': {
        put: operation({
          operationId: 'putUpload',
          tags: ['jobs'],
          summary: "Send an upload's bytes to the API (when it keeps blobs on its own disk)",
          requestParams: { path: z.object({ id: z.string().meta({ description: 'The uploadId.' }) }) },
          requestBody: {
            required: true,
            content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } },
          },
          responses: {
            '204': { description: 'Stored; submit it with `{ "uploadId" }`.' },
            ...errors(
              'VALIDATION_FAILED',
              'UPLOAD_NOT_FOUND',
              'IMAGE_TOO_LARGE',
              'STORAGE_UNAVAILABLE',
              ...authenticated,
            ),
          },
        }),
      },
      '/v1/jobs/batch': {
        post: operation({
          operationId: 'submitBatch',
          tags: ['jobs'],
          summary: 'Submit many images at once',
          description: [
            "Up to the tier's `maxBatchImages` images in one multipart request (each a part named `image`), admitted together: one job per image, and an answer per image in `data`, in order: its job, or the error that image alone was refused with (a bad image, or one past the quota, fails only itself; `status` is what a single submit of it would have been answered).",
            'The answer is 202 while any job of the batch is unfinished, 200 otherwise. Errors of the request as a whole (authentication, rate limit, a body too large, no image, too many images, a busy server) are answered as for a single submit, and then nothing was stored.',
            'Each image spends one unit of the submit rate limit. With `Idempotency-Key: K`, image i is submitted with the key `K:i`, so a retried batch answers the same jobs. With `Prefer: wait=N` the answer is held until every job is final or N seconds pass.',
          ].join('\n\n'),
          requestParams: {
            header: z.object({
              'Idempotency-Key': z.string().optional().meta({
                description: '1 to 250 visible ASCII characters; image i is submitted with the key `<key>:<i>`.',
              }),
              Prefer: preferHeader,
              'Cancel-After': cancelAfterHeader,
            }),
          },
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': { schema: submitBatchFormSchema },
              'application/json': { schema: submitBatchJsonSchema },
            },
          },
          responses: {
            '200': {
              description: 'Every job of the batch is final (or no image was accepted).',
              content: json(batchViewSchema),
            },
            '202': { description: 'Accepted: some jobs are queued or running.', content: json(batchViewSchema) },
            ...errors(
              'BAD_REQUEST',
              'VALIDATION_FAILED',
              'MISSING_IMAGE',
              'UNKNOWN_MODEL',
              'INVALID_WEBHOOK_URL',
              'PAYLOAD_TOO_LARGE',
              'CONCURRENCY_LIMITED',
              'QUEUE_FULL',
              'SERVER_BUSY',
              'QUEUE_UNAVAILABLE',
              ...authenticated,
            ),
          },
        }),
      },
      '/v1/jobs/{id}': {
        get: operation({
          operationId: 'getJob',
          tags: ['jobs'],
          summary: 'Read a job',
          description: `With \`?wait=N\` or \`Prefer: wait=N\` the answer is held until the job is final or N seconds pass (both clamped to ${maxWaitSeconds} s, a bare \`Prefer: wait\` is ${maxWaitSeconds} s, and \`Preference-Applied: wait=N\` says what was applied), then the job is answered as it is. With \`If-None-Match\`, an unchanged job answers 304.`,
          requestParams: {
            path: jobPath,
            query: z.object({
              wait: z
                .int()
                .min(0)
                .max(maxWaitSeconds)
                .optional()
                .meta({
                  description: `Seconds to wait for a final state, 0 to ${maxWaitSeconds} (a larger value is taken as ${maxWaitSeconds}).`,
                  example: 30,
                }),
            }),
            header: z.object({
              Prefer: preferHeader,
              'If-None-Match': z.string().optional().meta({ description: 'An ETag of this job.' }),
            }),
          },
          responses: {
            '200': { description: 'The job.', headers: jobHeaders, content: json(jobViewSchema) },
            '304': { description: 'Not modified: the job still matches If-None-Match.' },
            ...errors('VALIDATION_FAILED', 'JOB_NOT_FOUND', ...authenticated),
          },
        }),
        delete: operation({
          operationId: 'deleteJob',
          tags: ['jobs'],
          summary: 'Delete a job and its data',
          description:
            'Deletes the job with its input image, its result and its webhook delivery records, whatever its status. A queued job leaves the queue; a running one is forgotten: its result, when it comes, matches no job and is dropped. Afterwards the job answers 404 `JOB_NOT_FOUND` everywhere, and no webhook is sent for it.',
          requestParams: { path: jobPath },
          responses: {
            '204': { description: 'Deleted.' },
            ...errors('JOB_NOT_FOUND', ...authenticated),
          },
        }),
      },
      '/v1/jobs/{id}/cancel': {
        post: operation({
          operationId: 'cancelJob',
          tags: ['jobs'],
          summary: 'Cancel a job',
          description:
            'A queued job leaves the queue; a running one finishes but its result is discarded. A final job answers 409 JOB_FINISHED.',
          requestParams: { path: jobPath },
          responses: {
            '200': { description: 'The canceled job.', content: json(jobViewSchema) },
            ...errors('JOB_NOT_FOUND', 'JOB_FINISHED', ...authenticated),
          },
        }),
      },
      '/v1/jobs/{id}/deliveries': {
        get: operation({
          operationId: 'listJobDeliveries',
          tags: ['jobs'],
          summary: 'Webhook delivery attempts of a job',
          description:
            'Every attempt to POST the job to its webhook, oldest first: the status answered, or why no answer came.',
          requestParams: { path: jobPath },
          responses: {
            '200': { description: 'The attempts.', content: json(webhookDeliveryListViewSchema) },
            ...errors('JOB_NOT_FOUND', ...authenticated),
          },
        }),
      },
      '/v1/jobs/{id}/image': {
        get: operation({
          operationId: 'getJobImage',
          tags: ['jobs'],
          summary: 'The image a job was submitted with',
          description:
            "The stored input, with the content type of its format (sniffed from the bytes at upload). `Cache-Control: private, max-age=3600, immutable`; inputs are kept for the tier's retention, after which the job answers but its image is 404 `NOT_FOUND`.",
          requestParams: {
            path: jobPath,
            query: z.object({
              size: z.int().min(16).max(512).optional().meta({
                description:
                  'A square WebP thumbnail this many pixels wide (centre crop, upright), instead of the image as stored.',
                example: 96,
              }),
            }),
          },
          responses: {
            '200': {
              description: 'The image bytes.',
              headers: z.object({
                'Content-Disposition': z.string().meta({
                  description: '`inline; filename="<job id>.<format>"`, or `<job id>-<size>.webp` for a thumbnail.',
                }),
                'Cache-Control': z.string().meta({ example: 'private, max-age=3600, immutable' }),
              }),
              content: Object.fromEntries(
                imageTypes.map((type) => [type, { schema: z.string().meta({ format: 'binary' }) }]),
              ),
            },
            ...errors('VALIDATION_FAILED', 'JOB_NOT_FOUND', 'NOT_FOUND', ...authenticated),
          },
        }),
      },
      '/v1/events': {
        get: operation({
          operationId: 'streamEvents',
          tags: ['events'],
          summary: 'Live job and queue events',
          description: eventStreamDescription,
          requestParams: { header: z.object({ 'Last-Event-ID': lastEventIdHeader }) },
          responses: {
            '200': {
              description: 'The event stream (it does not end until the client closes it or the server shuts down).',
              content: {
                'text/event-stream': {
                  schema: z.string().meta({
                    description:
                      'Server-sent events: `event: job` with a `JobEvent`, `event: queue` with a `QueueSnapshot`, `event: ready`, `event: error`.',
                  }),
                },
              },
            },
            ...errors('TOO_MANY_STREAMS', 'CONCURRENCY_LIMITED', 'QUEUE_UNAVAILABLE', ...authenticated),
          },
        }),
      },
      '/v1/jobs/{id}/events': {
        get: operation({
          operationId: 'streamJobEvents',
          tags: ['events'],
          summary: "One job's events",
          description: `The events of one job of yours, as \`GET /v1/events\` sends them (\`ready\`, \`job\`, \`reset\`), and \`end\` after its final event, when the stream closes (at once, about a second after opening, for a job that was final already). Resumes after \`Last-Event-ID\` the same way.\n\n${eventStreamDescription}`,
          requestParams: {
            path: z.object({ id: z.string().meta({ description: 'The job id.' }) }),
            header: z.object({ 'Last-Event-ID': lastEventIdHeader }),
          },
          responses: {
            '200': {
              description: 'The event stream, until the job is final.',
              content: {
                'text/event-stream': {
                  schema: z.string().meta({
                    description:
                      'Server-sent events: `event: job` with a `JobEvent` of this job, `event: ready`, `event: reset`, `event: end`, `event: error`.',
                  }),
                },
              },
            },
            ...errors(
              'JOB_NOT_FOUND',
              'TOO_MANY_STREAMS',
              'CONCURRENCY_LIMITED',
              'QUEUE_UNAVAILABLE',
              ...authenticated,
            ),
          },
        }),
      },
      '/v1/account': {
        get: operation({
          operationId: 'getAccount',
          tags: ['account'],
          summary: 'Your account, tier limits and usage',
          description:
            'Who the key belongs to, the limits of its tier, and how much of them is used now (submissions in the current rate window, jobs queued or running).',
          responses: {
            '200': { description: 'The account.', content: json(accountViewSchema) },
            ...errors(...authenticated),
          },
        }),
        delete: operation({
          operationId: 'deleteAccount',
          tags: ['account'],
          summary: 'Delete your account and all its data',
          description:
            "Erases the account: every job (queued and running ones included, as `DELETE /v1/jobs/{id}` does) with its input, result and webhook deliveries, every API key, and the user. It cannot be undone. Confirm by sending the account's email (any case) as `confirm` in a JSON body; without it, or with another email, the answer is 400 `CONFIRMATION_REQUIRED` and nothing changes. The keys stop at once.",
          requestBody: { required: true, content: json(deleteAccountBodySchema) },
          responses: {
            '200': { description: 'What was erased.', content: json(accountDeletionViewSchema) },
            ...errors('CONFIRMATION_REQUIRED', 'VALIDATION_FAILED', ...authenticated),
          },
        }),
      },
      '/v1/account/webhook-secret': {
        get: operation({
          operationId: 'getWebhookSecret',
          tags: ['account'],
          summary: 'Your webhook signing secret',
          responses: {
            '200': { description: 'The secret.', content: json(webhookSecretViewSchema) },
            ...errors(...authenticated),
          },
        }),
        post: operation({
          operationId: 'rotateWebhookSecret',
          tags: ['account'],
          summary: 'Replace your webhook signing secret',
          description: 'Deliveries signed from now on (retries of earlier jobs included) use the new secret.',
          responses: {
            '200': { description: 'The new secret.', content: json(webhookSecretViewSchema) },
            ...errors(...authenticated),
          },
        }),
      },
      '/v1/admin/tiers': {
        get: operation({
          operationId: 'adminListTiers',
          tags: ['admin'],
          summary: 'Tiers and their limits',
          responses: {
            '200': { description: 'The tiers.', content: json(tierListViewSchema) },
            ...errors(...adminOnly),
          },
        }),
      },
      '/v1/admin/users': {
        get: operation({
          operationId: 'adminListUsers',
          tags: ['admin'],
          summary: 'Every user',
          responses: {
            '200': { description: 'The users.', content: json(userListViewSchema) },
            ...errors(...adminOnly),
          },
        }),
        post: operation({
          operationId: 'adminCreateUser',
          tags: ['admin'],
          summary: 'Create a user and its first API key',
          requestBody: { required: true, content: json(createUserBodySchema) },
          responses: {
            '201': { description: 'The user and its key (shown once).', content: json(createdUserViewSchema) },
            ...errors('VALIDATION_FAILED', 'CONFLICT', ...adminOnly),
          },
        }),
      },
      '/v1/admin/users/{user}': {
        get: operation({
          operationId: 'adminGetUser',
          tags: ['admin'],
          summary: 'A user and its keys',
          requestParams: { path: userParam },
          responses: {
            '200': { description: 'The user.', content: json(userDetailViewSchema) },
            ...errors('NOT_FOUND', ...adminOnly),
          },
        }),
        patch: operation({
          operationId: 'adminUpdateUser',
          tags: ['admin'],
          summary: "Change a user's tier",
          requestParams: { path: userParam },
          requestBody: { required: true, content: json(updateUserBodySchema) },
          responses: {
            '200': { description: 'The user.', content: json(z.object({ user: userViewSchema })) },
            ...errors('VALIDATION_FAILED', 'NOT_FOUND', ...adminOnly),
          },
        }),
      },
      '/v1/admin/users/{user}/disable': {
        post: operation({
          operationId: 'adminDisableUser',
          tags: ['admin'],
          summary: 'Disable a user',
          description:
            'Every key of the user stops on its next request (401 `UNAUTHENTICATED`), in every API process. Their jobs and data stay (queued jobs still run) until the user is enabled again or deletes the account. Disabling yourself is 409 `CONFLICT`.',
          requestParams: { path: userParam },
          responses: {
            '200': {
              description: 'The user, with `disabledAt` set.',
              content: json(z.object({ user: userViewSchema })),
            },
            ...errors('NOT_FOUND', 'CONFLICT', ...adminOnly),
          },
        }),
      },
      '/v1/admin/users/{user}/enable': {
        post: operation({
          operationId: 'adminEnableUser',
          tags: ['admin'],
          summary: 'Enable a disabled user',
          description: "The user's keys that are not revoked work again.",
          requestParams: { path: userParam },
          responses: {
            '200': {
              description: 'The user, with `disabledAt` null.',
              content: json(z.object({ user: userViewSchema })),
            },
            ...errors('NOT_FOUND', ...adminOnly),
          },
        }),
      },
      '/v1/admin/users/{user}/keys': {
        get: operation({
          operationId: 'adminListKeys',
          tags: ['admin'],
          summary: "A user's API keys",
          requestParams: { path: userParam },
          responses: {
            '200': { description: 'The keys (never their secrets).', content: json(apiKeyListViewSchema) },
            ...errors('NOT_FOUND', ...adminOnly),
          },
        }),
        post: operation({
          operationId: 'adminIssueKey',
          tags: ['admin'],
          summary: 'Issue an API key',
          requestParams: { path: userParam },
          requestBody: { content: json(issueKeyBodySchema) },
          responses: {
            '201': { description: 'The key (shown once).', content: json(issuedApiKeyViewSchema) },
            ...errors('VALIDATION_FAILED', 'NOT_FOUND', ...adminOnly),
          },
        }),
      },
      '/v1/admin/keys/{key}/revoke': {
        post: operation({
          operationId: 'adminRevokeKey',
          tags: ['admin'],
          summary: 'Revoke an API key',
          requestParams: {
            path: z.object({ key: z.string().meta({ description: 'Key id or prefix (`iq_<12 hex>`).' }) }),
          },
          responses: {
            '200': { description: 'The revoked key.', content: json(apiKeyViewSchema) },
            ...errors('NOT_FOUND', ...adminOnly),
          },
        }),
      },
      '/v1/admin/jobs': {
        get: operation({
          operationId: 'adminListJobs',
          tags: ['admin'],
          summary: "Every user's jobs",
          description:
            'Newest first. The filters of `GET /v1/jobs`, plus a user and free text; every filter is answered from an index.',
          requestParams: {
            query: listQuery.extend({
              user: z
                .string()
                .optional()
                .meta({ description: "Only this user's jobs (a user id; `userId` is the same)." }),
              userId: z.string().optional().meta({ description: "Only this user's jobs." }),
              q: z.string().min(3).max(200).optional().meta({
                description:
                  'Text found in the job id, the file name or a metadata value, ignoring case (at least 3 characters).',
                example: 'cus_42',
              }),
            }),
          },
          responses: {
            '200': { description: 'A page of jobs.', content: json(adminJobListViewSchema) },
            ...errors('VALIDATION_FAILED', ...adminOnly),
          },
        }),
      },
      '/v1/admin/overview': {
        get: operation({
          operationId: 'adminGetQueueOverview',
          tags: ['admin'],
          summary: 'The queue and its workers now',
          description:
            'Counts by queue state, jobs in the system against the cap, whether the queue is paused, and every live worker of the queue as its last heartbeat tells (the same snapshot admins get as `event: queue` on `/v1/events`).',
          responses: {
            '200': { description: 'The snapshot.', content: json(queueSnapshotSchema) },
            ...errors('QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/admission': {
        get: operation({
          operationId: 'adminGetAdmission',
          tags: ['admin'],
          summary: 'The fair queues of admission, per user',
          description:
            'Each fair-queued resource of the API process that answers (submission slots, upload memory, decoding by cost, event streams): capacity, units in use, requests waiting, and per user the units held, requests waiting now, and requests that waited or were refused since the process started. Each API process answers for itself, as `/metrics` does (`inferq_admission_*`).',
          responses: {
            '200': { description: 'The fair queues now.', content: json(admissionViewSchema) },
            ...errors(...adminOnly),
          },
        }),
      },
      '/v1/admin/stats': {
        get: operation({
          operationId: 'adminGetJobStats',
          tags: ['admin'],
          summary: 'Throughput and latency of finished jobs',
          description:
            'Jobs that finished in the window, in equal buckets (oldest first; empty ones have zero counts and null percentiles) and in total: counts, jobs per second, and p50/p95/p99 of queue wait, inference and end-to-end time. Computed by Postgres and reused for 5 s.',
          requestParams: { query: statsQuery },
          responses: {
            '200': { description: 'The series.', content: json(statsSeriesSchema) },
            ...errors('VALIDATION_FAILED', ...adminOnly),
          },
        }),
      },
      '/v1/admin/jobs/{id}': {
        get: operation({
          operationId: 'adminGetJob',
          tags: ['admin'],
          summary: "Any user's job by id",
          description: "The job as its owner reads it, with `userId`: what the dashboard's search by job id answers.",
          requestParams: { path: jobPath },
          responses: {
            '200': { description: 'The job.', content: json(adminJobViewSchema) },
            ...errors('JOB_NOT_FOUND', ...adminOnly),
          },
        }),
      },
      '/v1/admin/history': {
        get: operation({
          operationId: 'adminGetHistory',
          tags: ['admin'],
          summary: 'Per-model history: the last hour, day or week',
          description:
            "Written once a minute per model by the reconciler (in the workers) and kept in Postgres for `HISTORY_RETENTION_DAYS`: jobs submitted, succeeded and failed, queue wait p50/p95, the oldest waiting job's age and the worker count. An hour comes by the minute, a day by 5 minutes, a week by the hour.",
          requestParams: {
            query: z.object({
              range: z.enum(['hour', 'day', 'week']).optional().meta({ description: 'Default `hour`.' }),
              model: z.string().optional().meta({ description: 'One model only.' }),
            }),
          },
          responses: {
            '200': { description: 'The history.', content: json(historyViewSchema) },
            ...errors('VALIDATION_FAILED', ...adminOnly),
          },
        }),
      },
      '/v1/admin/jobs/retry': {
        post: operation({
          operationId: 'adminRetryJobs',
          tags: ['admin'],
          summary: 'Run the failed jobs of a selection again',
          description:
            'The failed jobs of `filter` (the filters of `GET /v1/admin/jobs`) that had failed by `asOf`. First a preview (`dryRun: true`): the count, `asOf` and the `operationId`. Then the same body with that `asOf` and without `dryRun` retries them, oldest failure first, up to `limit`. The request is idempotent: sent again, it retries only jobs still failed from before `asOf` (the rest past `limit`), never a job it already retried.',
          requestBody: { content: json(retryJobsBodySchema) },
          responses: {
            '200': { description: 'The count (preview) or what was retried.', content: json(retryJobsViewSchema) },
            ...errors('VALIDATION_FAILED', 'INVALID_METADATA', 'QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/jobs/{id}/deliveries': {
        get: operation({
          operationId: 'adminListJobDeliveries',
          tags: ['admin'],
          summary: "Any job's webhook delivery log",
          description:
            'Every attempt of every delivery of the job (redeliveries included, each with its own `id`), oldest first.',
          requestParams: { path: jobPath },
          responses: {
            '200': { description: 'The attempts.', content: json(webhookDeliveryListViewSchema) },
            ...errors('JOB_NOT_FOUND', ...adminOnly),
          },
        }),
      },
      '/v1/admin/jobs/{id}/redeliver': {
        post: operation({
          operationId: 'adminRedeliverJobWebhook',
          tags: ['admin'],
          summary: "Deliver a job's webhook again",
          description:
            'A new delivery of the final job to its webhook (a new delivery id, attempts from 1, retried with backoff like the first). With an `Idempotency-Key`, the same key enqueues it once.',
          requestParams: { path: jobPath, header: z.object({ 'Idempotency-Key': z.string().optional() }) },
          responses: {
            '202': {
              description: 'Enqueued (`enqueued: 0` when this key ran already).',
              content: json(redeliveryViewSchema),
            },
            ...errors('JOB_NOT_FOUND', 'CONFLICT', 'QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/webhooks/redeliver': {
        post: operation({
          operationId: 'adminRedeliverFailedWebhooks',
          tags: ['admin'],
          summary: 'Deliver again every webhook that failed in a time range',
          description:
            'Each job whose final-state webhook got no 2xx on an attempt made in `[from, to)` and never succeeded since gets a new delivery. `dryRun` counts them. The same range sent twice enqueues each job once.',
          requestBody: { content: json(redeliverWebhooksBodySchema) },
          responses: {
            '200': { description: 'The count (preview).', content: json(redeliveryViewSchema) },
            '202': { description: 'Enqueued.', content: json(redeliveryViewSchema) },
            ...errors('VALIDATION_FAILED', 'QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/jobs/retry-failed': {
        post: operation({
          operationId: 'adminRetryFailedJobs',
          tags: ['admin'],
          summary: 'Run every failed job again',
          description:
            "Each failed job (one user's with `userId`), oldest failure first and up to `limit`, goes back to `queued` under its own id, as `POST /v1/admin/jobs/{id}/retry` does for one. Jobs that changed meanwhile are left and counted in `remaining`.",
          requestBody: { content: json(retryFailedBodySchema) },
          responses: {
            '200': { description: 'How many were retried.', content: json(retryFailedViewSchema) },
            ...errors('VALIDATION_FAILED', 'QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/jobs/clean': {
        post: operation({
          operationId: 'adminCleanJobs',
          tags: ['admin'],
          summary: 'Delete finished jobs older than an age',
          description:
            "Deletes jobs of the given final statuses that finished at least `olderThanSeconds` ago (one user's with `userId`), oldest first and up to `limit`, with their inputs, results and webhook deliveries, then takes their entries out of the queue. Postgres is the source of truth: a deleted job answers 404 everywhere. With `dryRun` it only counts.",
          requestBody: { required: true, content: json(cleanJobsBodySchema) },
          responses: {
            '200': { description: 'How many were deleted (or would be).', content: json(cleanJobsViewSchema) },
            ...errors('VALIDATION_FAILED', 'QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/queue': {
        get: operation({
          operationId: 'adminGetQueueState',
          tags: ['admin'],
          summary: 'Whether the queue(s) are paused',
          responses: {
            '200': { description: 'The state.', content: json(queueControlViewSchema) },
            ...errors('QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/queue/pause': {
        post: operation({
          operationId: 'adminPauseQueue',
          tags: ['admin'],
          summary: 'Pause the queue(s)',
          description:
            'Workers take no new jobs from any inference queue until it is resumed; attempts already running finish, and submissions are still accepted and wait. Idempotent.',
          responses: {
            '200': { description: 'Paused.', content: json(queueControlViewSchema) },
            ...errors('QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/queue/resume': {
        post: operation({
          operationId: 'adminResumeQueue',
          tags: ['admin'],
          summary: 'Resume the queue(s)',
          description: 'Workers take jobs again. Idempotent.',
          responses: {
            '200': { description: 'Running.', content: json(queueControlViewSchema) },
            ...errors('QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/jobs/{id}/retry': {
        post: operation({
          operationId: 'adminRetryJob',
          tags: ['admin'],
          summary: 'Run a failed job again',
          description:
            "Any user's failed job goes back to `queued` under the same id, its error cleared, and is enqueued again. A job that is not failed, or still held by a worker, answers 409 `CONFLICT`.",
          requestParams: { path: jobPath },
          responses: {
            '202': { description: 'Queued again.', content: json(jobViewSchema) },
            ...errors('JOB_NOT_FOUND', 'CONFLICT', 'QUEUE_UNAVAILABLE', ...adminOnly),
          },
        }),
      },
      '/v1/admin/jobs/{id}/cancel': {
        post: operation({
          operationId: 'adminCancelJob',
          tags: ['admin'],
          summary: "Cancel any user's job",
          description:
            'As `POST /v1/jobs/{id}/cancel`, for a job of any user: a queued job leaves the queue, a running one finishes but its result is discarded, a final one answers 409 `JOB_FINISHED`.',
          requestParams: { path: jobPath },
          responses: {
            '200': { description: 'The canceled job.', content: json(jobViewSchema) },
            ...errors('JOB_NOT_FOUND', 'JOB_FINISHED', ...adminOnly),
          },
        }),
      },
      '/v2': {
        get: operation({
          operationId: 'protocolServerMetadata',
          tags: ['inference protocol'],
          summary: 'Server metadata',
          security: [],
          responses: {
            '200': {
              description: "The server's name, version and protocol extensions.",
              content: json(protocolServerMetadataSchema),
            },
          },
        }),
      },
      '/v2/health/live': {
        get: operation({
          operationId: 'protocolServerLive',
          tags: ['inference protocol'],
          summary: 'Server live',
          security: [],
          responses: { '200': { description: 'The server answers.' } },
        }),
      },
      '/v2/health/ready': {
        get: operation({
          operationId: 'protocolServerReady',
          tags: ['inference protocol'],
          summary: 'Server ready',
          security: [],
          responses: { '200': { description: 'Postgres and Redis answer.' }, '400': { description: 'Not ready.' } },
        }),
      },
      ...protocolModelRoutes(
        '',
        (versioned) =>
          operation({
            operationId: versioned ? 'protocolModelVersionMetadata' : 'protocolModelMetadata',
            tags: ['inference protocol'],
            summary: versioned ? 'Model version metadata' : 'Model metadata (the live version)',
            requestParams: { path: versioned ? protocolVersionPath : protocolModelPath },
            responses: {
              '200': {
                description: 'Its inputs and outputs: name, datatype, shape (-1: dynamic).',
                content: json(protocolModelMetadataSchema),
              },
              ...protocolErrors('MODEL_NOT_FOUND', ...authenticated),
            },
          }),
        'get',
      ),
      ...protocolModelRoutes(
        '/ready',
        (versioned) =>
          operation({
            operationId: versioned ? 'protocolModelVersionReady' : 'protocolModelReady',
            tags: ['inference protocol'],
            summary: versioned ? 'Model version ready' : 'Model ready',
            description: 'Whether a live worker has the version loaded.',
            requestParams: { path: versioned ? protocolVersionPath : protocolModelPath },
            responses: {
              '200': { description: 'Ready.' },
              '400': { description: 'Not ready: no live worker has it loaded.' },
              ...protocolErrors('MODEL_NOT_FOUND', ...authenticated),
            },
          }),
        'get',
      ),
      ...protocolModelRoutes(
        '/infer',
        (versioned) =>
          operation({
            operationId: versioned ? 'protocolInferVersion' : 'protocolInfer',
            tags: ['inference protocol'],
            summary: versioned ? 'Inference on a version' : 'Inference',
            description: inferDescription,
            requestParams: {
              path: versioned ? protocolVersionPath : protocolModelPath,
              header: z.object({
                Prefer: z.string().optional().meta({
                  description: '`respond-async`: answer 202 at once; `wait=N`: wait at most N seconds (60 at most).',
                }),
                'Inference-Header-Content-Length': z
                  .string()
                  .optional()
                  .meta({ description: "The JSON header's length in bytes when binary tensors follow it." }),
                'Idempotency-Key': z.string().optional(),
              }),
            },
            requestBody: {
              content: {
                'application/json': { schema: inferRequestSchema },
                'application/octet-stream': {
                  schema: z
                    .string()
                    .meta({ format: 'binary', description: 'The JSON header, then the binary tensors.' }),
                },
              },
            },
            responses: {
              '200': {
                description: 'The outputs (JSON, or the JSON header and binary outputs).',
                content: {
                  'application/json': { schema: inferResponseSchema },
                  'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) },
                },
              },
              '202': { description: 'Accepted: the job, at `Location`.', content: json(jobViewSchema) },
              ...protocolErrors(
                'INVALID_TENSOR',
                'MODEL_KIND_MISMATCH',
                'MODEL_NOT_FOUND',
                'PAYLOAD_TOO_LARGE',
                'IDEMPOTENCY_KEY_REUSED',
                'QUOTA_EXCEEDED',
                'QUEUE_FULL',
                'QUEUE_UNAVAILABLE',
                'INFERENCE_FAILED',
                'TIMEOUT',
                ...authenticated,
              ),
            },
          }),
        'post',
      ),
      '/v1/models': {
        get: operation({
          operationId: 'listModels',
          tags: ['models'],
          summary: 'Models, versions and readiness',
          description:
            'Each model with its versions, the live one, how many live workers have each version loaded (from their heartbeats), a swap in progress and its failures; and each worker with its backend.',
          responses: {
            '200': { description: 'The models and workers.', content: json(modelsViewSchema) },
            ...errors(...authenticated),
          },
        }),
      },
      '/v1/models/{name}': {
        get: operation({
          operationId: 'getModel',
          tags: ['models'],
          summary: 'One model',
          requestParams: { path: modelParams.pick({ name: true }) },
          responses: {
            '200': { description: 'The model.', content: json(modelViewSchema) },
            ...errors('MODEL_NOT_FOUND', ...authenticated),
          },
        }),
      },
      '/v1/models/{name}/{version}/{file}': {
        get: operation({
          operationId: 'getModelFile',
          tags: ['models'],
          summary: 'A model file for the browser',
          description:
            '`model.json`, `manifest.json` or a weight shard `model.json` names, for `tf.loadLayersModel(url)` / `tf.loadGraphModel(url)`. Public (no key), CORS for any origin, `Cache-Control: public, max-age=31536000, immutable` (versions never change).',
          security: [],
          requestParams: { path: modelParams },
          responses: {
            '200': {
              description: 'The file.',
              content: {
                'application/json': { schema: z.object({}).passthrough() },
                'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) },
              },
            },
            ...errors('NOT_FOUND', 'MODEL_NOT_FOUND'),
          },
        }),
      },
      '/v1/admin/models/{name}/versions': {
        post: operation({
          operationId: 'adminPublishModelVersion',
          tags: ['admin', 'models'],
          summary: 'Register a model version from a model.json URL',
          description:
            'Checks the name, version and manifest, then downloads model.json and its shards (https to public addresses only unless the host is in MODEL_FETCH_ALLOW_HOSTS; no redirects; bounded in bytes and time), checks that they are a real TF.js model (modelTopology, weightsManifest, shard sizes, safe paths), hashes them and moves the version into place atomically. A refusal is 400 VALIDATION_FAILED with `details.reason` (`private_address`, `redirect`, `too_large`, `timeout`, `not_a_model`, `invalid_path`, `weights_mismatch`, …); it never repeats what the remote answered. Versions are immutable: the same files again answer 200 `unchanged`, other files 409.',
          requestParams: { path: modelParams.pick({ name: true }) },
          requestBody: { required: true, content: json(publishModelVersionBodySchema) },
          responses: {
            '201': { description: 'Written.', content: json(publishedVersionSchema) },
            '200': { description: 'Already there with the same files.', content: json(publishedVersionSchema) },
            ...errors('VALIDATION_FAILED', 'CONFLICT', ...adminOnly),
          },
        }),
      },
      '/v1/admin/models/{name}/live': {
        post: operation({
          operationId: 'adminSetLiveModelVersion',
          tags: ['admin', 'models'],
          summary: 'Make a version live',
          description:
            'Workers load it beside the old one, warm it up and switch without downtime; follow the swap in `GET /v1/models/{name}`.',
          requestParams: { path: modelParams.pick({ name: true }) },
          requestBody: { required: true, content: json(setLiveVersionBodySchema) },
          responses: {
            '200': { description: 'The model.', content: json(modelViewSchema) },
            ...errors('VALIDATION_FAILED', 'MODEL_NOT_FOUND', ...adminOnly),
          },
        }),
      },
      '/v1/admin/models/{name}/traffic': {
        get: operation({
          operationId: 'adminGetModelTraffic',
          tags: ['admin', 'models'],
          summary: "A model's traffic split",
          description:
            'The split (null: every job that names no version runs on the live version), how many live workers have each version warm, and the latest automatic rollbacks.',
          requestParams: { path: modelParams.pick({ name: true }) },
          responses: {
            '200': { description: 'The traffic.', content: json(trafficViewSchema) },
            ...errors('MODEL_NOT_FOUND', ...adminOnly),
          },
        }),
        put: operation({
          operationId: 'adminSetModelTraffic',
          tags: ['admin', 'models'],
          summary: "Set a model's traffic split",
          description:
            'Jobs that name no version are sent to the versions by weight (`sticky: "user"`: one user always to the same version), and each also runs on `shadow`, at lower priority, its result stored apart. A version no worker has loaded yet takes no traffic (its share goes to the live version, the baseline) until one has. `rules` roll the split back to the baseline automatically. Making a version live removes the split.',
          requestParams: { path: modelParams.pick({ name: true }) },
          requestBody: { required: true, content: json(putTrafficBodySchema) },
          responses: {
            '200': { description: 'The traffic.', content: json(trafficViewSchema) },
            ...errors('VALIDATION_FAILED', 'MODEL_NOT_FOUND', 'CONFLICT', ...adminOnly),
          },
        }),
        delete: operation({
          operationId: 'adminClearModelTraffic',
          tags: ['admin', 'models'],
          summary: "Remove a model's traffic split",
          requestParams: { path: modelParams.pick({ name: true }) },
          responses: {
            '200': { description: 'The traffic.', content: json(trafficViewSchema) },
            ...errors('MODEL_NOT_FOUND', 'CONFLICT', ...adminOnly),
          },
        }),
      },
      '/v1/admin/models/{name}/compare': {
        get: operation({
          operationId: 'adminCompareModelVersions',
          tags: ['admin', 'models'],
          summary: 'Compare two versions on stored results',
          description:
            'Over the jobs each version ran since `since` (default: since the split was set, else the last 24 hours), as the primary or as a shadow: counts, error rates, inference p50/p95, and on shadowed pairs the top-1 agreement (0..1) and the absolute score differences.',
          requestParams: {
            path: modelParams.pick({ name: true }),
            query: z.object({ baseline: z.string(), candidate: z.string(), since: z.string().optional() }),
          },
          responses: {
            '200': { description: 'The comparison.', content: json(modelComparisonSchema) },
            ...errors('VALIDATION_FAILED', 'MODEL_NOT_FOUND', ...adminOnly),
          },
        }),
      },
      '/v1/admin/rollbacks': {
        get: operation({
          operationId: 'adminListRollbacks',
          tags: ['admin', 'models'],
          summary: 'The latest automatic rollbacks',
          responses: {
            '200': {
              description: 'Newest first.',
              content: json(z.object({ rollbacks: z.array(modelRollbackSchema) })),
            },
            ...errors(...adminOnly),
          },
        }),
      },
      '/healthz': {
        get: operation({
          operationId: 'getHealth',
          tags: ['service'],
          summary: 'The process answers',
          security: [],
          responses: { '200': { description: 'Alive.', content: json(z.object({ status: z.literal('ok') })) } },
        }),
      },
      '/readyz': {
        get: operation({
          operationId: 'getReadiness',
          tags: ['service'],
          summary: 'Postgres and Redis answer',
          security: [],
          responses: {
            '200': { description: 'Ready.', content: json(readinessSchema) },
            '503': { description: 'A dependency does not answer.', content: json(readinessSchema) },
          },
        }),
      },
      '/metrics': {
        get: operation({
          operationId: 'getMetrics',
          tags: ['service'],
          summary: 'Prometheus metrics of this process',
          description:
            '`inferq_*` metrics of this API process (HTTP request durations, jobs submitted and canceled, rate-limit refusals, queue depth) and the Node.js process defaults, in the Prometheus text format. No API key: when the API has a METRICS_TOKEN it needs `Authorization: Bearer <METRICS_TOKEN>`; without one, keep it off the public network.',
          security: [],
          responses: {
            '200': { description: 'The metrics.', content: { 'text/plain': { schema: z.string() } } },
            ...errors('UNAUTHENTICATED'),
          },
        }),
      },
      '/docs': {
        get: operation({
          operationId: 'getApiReference',
          tags: ['service'],
          summary: 'A page to browse this document',
          security: [],
          responses: { '200': { description: 'HTML.', content: { 'text/html': { schema: z.string() } } } },
        }),
      },
      '/openapi.json': {
        get: operation({
          operationId: 'getOpenApiDocument',
          tags: ['service'],
          summary: 'This document',
          security: [],
          responses: {
            '200': {
              description: 'OpenAPI 3.1.',
              content: { 'application/json': { schema: z.object({}).passthrough() } },
            },
          },
        }),
      },
    },
    webhooks: {
      jobFinished: {
        post: operation({
          operationId: 'jobFinishedWebhook',
          summary: 'A job reached a final state',
          description: [
            "Sent to the job's `webhook` URL once it is succeeded, failed, canceled or expired (and when it starts running, with `webhookEvents=started,completed`). The body is the job, exactly as `GET /v1/jobs/{id}` answers it.",
            '',
            'Verify it with any Standard Webhooks library (https://www.standardwebhooks.com) and your webhook secret: `webhook-signature` is `v1,` and the base64 HMAC-SHA256 of `` `${webhook-id}.${webhook-timestamp}.${rawBody}` ``, keyed with the bytes of the secret. `InferQ-Signature` (the original scheme) is sent for one more release.',
            '',
            'Answer 2xx within 10 s. Anything else (a redirect included) is retried with exponential backoff — 30 s, 1 min, 2 min, … capped at 3 h — for about 22 h, 16 attempts in all. Every attempt is listed at `GET /v1/jobs/{id}/deliveries`.',
          ].join('\n'),
          requestParams: {
            header: z.object({
              'webhook-id': z.string().meta({
                description: 'Standard Webhooks: the delivery id, the same on every retry: drop duplicates by it.',
              }),
              'webhook-timestamp': z
                .string()
                .meta({ description: 'Standard Webhooks: unix seconds of this attempt.', example: '1767225600' }),
              'webhook-signature': z.string().meta({
                description: 'Standard Webhooks: `v1,<base64 HMAC-SHA256>`, space-separated when there are several.',
                example: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
              }),
              'InferQ-Signature': z.string().meta({
                description: '`t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.',
                example: 't=1767225600,v1=5257a8…',
              }),
              'InferQ-Event': z.enum(webhookEvents).meta({ description: 'What happened.' }),
              'InferQ-Delivery': z
                .string()
                .meta({ description: 'The same on every retry of this delivery: drop duplicates by it.' }),
              'InferQ-Attempt': z.string().meta({ description: '1 for the first try, 2 for the first retry, …' }),
            }),
          },
          // The body is the answer of GET /v1/jobs/{id}: the same component, not an input variant of it.
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } } },
          },
          responses: { '200': { description: 'Any 2xx acknowledges the delivery.' } },
        }),
      },
    },
  });
}

const readinessSchema = z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), z.boolean()) });

export type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;
