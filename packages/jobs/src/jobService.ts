import { createHash, randomUUID } from 'node:crypto';
import { jobPriority, retentionEnd, tierOf, type Principal, type Tier, type TierTable } from '@inferq/accounts';
import { acquireTurn, AppError, type ImageFormat, GroupCommit, imageTooLargeError, isAppError, isFinalStatus, isUuid, jobStatuses, parseJobMetadata, queueUnavailable, type JobMetadata, sanitizeFileName, webhookEventFilters, type FairQueue, type JobStatus, type WebhookEventFilter } from '@inferq/core';
import type { AdmitRequest, AdmitResult, DeletedJobs, JobAdmission, JobExecution, JobFilter, JobMaintenance, JobQueries, JobRecord, WebhookDeliveryStore } from '@inferq/db';
import type { ImageLimits, PreparedPixels, ValidatedImage } from '@inferq/images';
import { decodeCost, imageOnly, makeThumbnail, pixelSpecBytes, validateImage } from '@inferq/images';
import { JobLifecycle } from '@inferq/lifecycle';
import { LRUCache } from 'lru-cache';
import type { InferenceQueue, JobEventPublisher, ModelCapacity, PixelStore } from '@inferq/queue';
import { encodeTensorPayload, parseInferRequest, tensorInputFormat, type InferRequest } from '@inferq/tensors';
import { disabledTracing, SpanStatusCode, type Span, type Tracing } from '@inferq/tracing';
import { checkWebhookUrl, type WebhookUrlPolicy } from '@inferq/webhooks';
import { blobPrefixes, BlobTooLargeError, inputBlobKey, isResultPrefix, resultSinkKey, uploadBlobKey, type BlobStore } from '@inferq/storage';
import { fetchBounded, FetchFailedError, FetchRefusedError, type OutboundPolicy } from '@inferq/outbound';
import type { JobWaiter, WaitOutcome } from './jobWaiter.ts';
import type { ModelCatalog, VersionRouter } from './modelCatalog.ts';

/** Queued + running jobs across all users above which submissions get 503 QUEUE_FULL. */
export const defaultMaxQueuedJobs = 10_000;

export interface JobServiceOptions {
  /** The submit path's writes (quota, idempotency). */
  admission: JobAdmission;
  /** Status changes: cancel, and an operator's retry. */
  execution: JobExecution;
  /** Reads of jobs. */
  queries: JobQueries;
  /** Deletions on the owner's request (a job, or all of an account's). @defaultValue none: they answer 500 */
  maintenance?: JobMaintenance | undefined;
  queue: InferenceQueue;
  models: ModelCatalog;
  /**
   * Traffic splits: jobs that name no version are sent to the version it picks, and shadowed on
   * the version it names. @defaultValue none: such jobs run on the live version
   */
  routing?: VersionRouter | undefined;
  defaultModel: string;
  /** The global limits; a tier may only lower maxBytes and maxPixels. */
  imageLimits: ImageLimits;
  /**
   * Store uploads with their metadata as sent. Otherwise EXIF (GPS, Artist, maker notes), XMP,
   * IPTC and comments are cut out of what is stored and served, the orientation kept.
   * @defaultValue false
   */
  keepImageMetadata?: boolean | undefined;
  tiers: TierTable;
  /** Queued + running jobs across all users above which submissions get 503 QUEUE_FULL. @defaultValue defaultMaxQueuedJobs (10000) */
  maxQueuedJobs?: number | undefined;
  /** `Retry-After` of a QUEUE_FULL answer, in seconds. @defaultValue 5 */
  queueFullRetryAfterSeconds?: number;
  /** Which webhook URLs are accepted. @defaultValue https to public addresses only */
  webhookPolicy?: WebhookUrlPolicy;
  /** Holds `?wait=` requests until their job is final; absent: waits answer at once. */
  waiter?: JobWaiter | undefined;
  /** Webhook delivery attempts, shown on the job. */
  deliveries?: WebhookDeliveryStore | undefined;
  /**
   * Announces new, retried (queued) and canceled jobs to live event streams, through the
   * `JobLifecycle` built on it and `execution`; the worker announces the rest.
   */
  events?: JobEventPublisher | undefined;
  /**
   * The process's decoding, by cost (the pixels image headers declare, weighed by format: see
   * decodeCost), a fair queue between users: a decode waits its turn, and one whose turn does
   * not come in time is refused 429 CONCURRENCY_LIMITED or 503 SERVER_BUSY before it starts.
   * @defaultValue none: decodes are not counted
   */
  decodePixels?: FairQueue | undefined;
  /**
   * Where the model pixels made by the validating decode wait for the worker (Redis), so that
   * decode is the job's only one. Absent, or over its budget: the API only checks the image (for
   * JPEG, a DCT-domain decode at 1/8 scale) and the worker decodes it. @defaultValue none
   */
  pixels?: PixelStore | undefined;
  /**
   * Which pixels are handed over: `worthwhile` (small ones, or 8-bit ones from an image of at
   * least twice the input's pixels; see pixelsWorthStoring) or `always`. @defaultValue 'worthwhile'
   */
  pixelHandoff?: 'worthwhile' | 'always' | undefined;
  /** Most admissions written in one transaction (group commit). @defaultValue 128 */
  maxAdmissionGroup?: number;
  /**
   * The models some live worker serves (heartbeats, cached), for `waitingFor`; undefined when it
   * cannot be known (Redis down). @defaultValue none: waitingFor is always null
   */
  servedModels?: (() => Promise<ReadonlySet<string> | undefined>) | undefined;
  /**
   * Per model, the workers serving it, their measured throughput and its load time (heartbeats,
   * cached), for a queued job's `etaSeconds`. @defaultValue none: etaSeconds is always null
   */
  capacity?: (() => Promise<ReadonlyMap<string, ModelCapacity> | undefined>) | undefined;
  /**
   * Spans of each submit (`submit`, with `admission` and `enqueue` under it); the enqueue span's
   * context travels in the job payload as `traceparent`. @defaultValue disabledTracing (off)
   */
  tracing?: Tracing | undefined;
  /**
   * Where input bytes are kept outside Postgres (BLOB_STORE_URL): each admitted job's image is
   * written there first, and its row keeps the key. Also holds uploads (POST /v1/uploads).
   * @defaultValue none: inputs are stored in Postgres and uploads are refused
   */
  blobs?: BlobStore | undefined;
  /** How `imageUrl` inputs are fetched. @defaultValue https to public addresses only, within 10 s */
  inputFetch?: InputFetchOptions | undefined;
  /** How long an upload may wait for its PUT and its submit. @defaultValue 900 */
  uploadTtlSeconds?: number | undefined;
}

export interface InputFetchOptions {
  /** Which hosts an `imageUrl` may name (INPUT_FETCH_ALLOW_HOSTS). @defaultValue https to public addresses only */
  policy?: OutboundPolicy | undefined;
  /** The whole fetch must end within this. @defaultValue 10000 */
  timeoutMs?: number | undefined;
}

/** An image given by reference rather than in the request: a URL to fetch, or an upload of the caller's. */
export type InputReference = { imageUrl: string; uploadId?: undefined } | { uploadId: string; imageUrl?: undefined };

/** What POST /v1/uploads answers: where to PUT (null: the API's own PUT route), and until when. */
export interface CreatedUpload {
  uploadId: string;
  /** A presigned PUT to the bucket; null when the store cannot presign (the filesystem driver). */
  presigned: { url: string; headers: Record<string, string> } | null;
  expiresAt: Date;
}

const uploadIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What an upload may declare itself as: an image type, or plain bytes (the format is sniffed from them anyway). */
const uploadContentTypePattern = /^(image\/[a-z0-9.+-]{1,60}|application\/octet-stream)$/i;
const storageUnavailable = (cause?: unknown) => new AppError('STORAGE_UNAVAILABLE', 'The blob store is unavailable; nothing was stored. Try again shortly.', { retryAfterSeconds: 5, cause });
const uploadNotFound = () => new AppError('UPLOAD_NOT_FOUND', 'No such upload: it was never PUT, has expired, or was submitted already.');

export interface SubmitJobInput {
  principal: Principal;
  image: Buffer | undefined;
  /** The uploaded file's name as the client sent it (multer's `originalname`); stored sanitized. */
  fileName?: string | undefined;
  model?: string | undefined;
  modelVersion?: string | undefined;
  /** The `Idempotency-Key` header. */
  idempotencyKey?: string | undefined;
  /** URL POSTed with the job when it is final. */
  webhook?: string | undefined;
  /** The `webhookEvents` form field: comma-separated `started`, `completed`. @defaultValue 'completed' */
  webhookEvents?: string | undefined;
  /** The image by reference (a JSON submit), when `image` is absent. */
  reference?: InputReference | undefined;
  /**
   * Seconds the job may wait to start (1 to 604800; the form field's text or a JSON number): not
   * started by then, it becomes `expired`. @defaultValue none: it waits for ever
   */
  ttlSeconds?: string | number | undefined;
  /**
   * Execution deadline of each attempt: seconds, or a duration (`90s`, `5m`, `1h30m`), as the
   * `Cancel-After` header. @defaultValue none: only the model's time limit
   */
  cancelAfter?: string | number | undefined;
  /** A result sink: the result JSON is also written to `results/<resultPrefix>/<id>.json` in the blob store. */
  resultPrefix?: string | undefined;
  /**
   * The client's metadata: the multipart field's JSON text, or the JSON body's object; checked by
   * core's parseJobMetadata (at most 20 string keys and values). @defaultValue none
   */
  metadata?: string | Record<string, unknown> | undefined;
}

export interface SubmitJobResult {
  job: JobRecord;
  /** True when an earlier submit with the same idempotency key is answered again. */
  replayed: boolean;
}

/** A tensor inference (`POST /v2/models/{name}/infer`): the request's JSON header and its binary section. */
export interface SubmitTensorsInput extends Omit<SubmitJobInput, 'image' | 'fileName'> {
  /** The inference request object (JSON), not yet checked. */
  header: unknown;
  /** The bytes after the JSON header (binary-data extension); empty for a JSON-only request. */
  binary: Uint8Array;
}

export interface SubmitTensorsResult extends SubmitJobResult {
  /** The request as checked against the model: its tensors, the outputs it asked for. */
  request: InferRequest;
}

/** One image of a batch: its bytes, or why the upload refused them on its own. */
export type BatchImage = Buffer | { tooLarge: true; size: number } | { reference: InputReference };

export interface SubmitBatchInput extends Omit<SubmitJobInput, 'image' | 'fileName'> {
  images: BatchImage[];
  /** The uploaded files' names, by position (stored sanitized). */
  fileNames?: Array<string | undefined>;
}

/** What became of one image of a batch: a job (new, or replayed for its key) or its own error. */
export type BatchItemResult = ({ ok: true } & SubmitJobResult) | { ok: false; error: AppError };

/** An admission as the group commit writes it, and the job it enqueues. */
interface PendingAdmission {
  request: AdmitRequest;
  payload: { jobId: string; model: string; modelVersion?: string; traceparent?: string };
  /** The version that also runs the job, its result kept apart (a split's shadow). */
  shadow: string | undefined;
  /** The model pixels made while validating, handed to the worker through the pixel store. */
  pixels: PreparedPixels | undefined;
  /** The submit's span (a batch's images share one). */
  span: Span;
  /** The upload the image came from: deleted once the job is admitted. */
  uploadKey?: string | undefined;
}

type AdmissionOutcome = AdmitResult | { outcome: 'failed'; error: unknown };

/** What a submit (single or batch) has checked before any image is looked at. */
interface SubmitContext {
  principal: Principal;
  tier: ReturnType<typeof tierOf>;
  modelName: string;
  version: string | undefined;
  /** Where the split sent the job when it named no version; undefined without a split. */
  route: { version: string; shadow?: string } | undefined;
  model: NonNullable<Awaited<ReturnType<ModelCatalog['resolve']>>>;
  webhookUrl: string | undefined;
  webhookEvents: WebhookEventFilter[] | undefined;
  /** The ttl in ms (the job's start_by is its submit plus this); undefined: none. */
  ttlMs: number | undefined;
  cancelAfterMs: number | undefined;
  metadata: JobMetadata | undefined;
  /** Jobs queued or running when the submit began (the global cap's read). */
  inFlight: number;
  resultPrefix: string | undefined;
}

/** A listing's filters as the query string gives them; each is checked here. */
export interface JobFilterInput {
  /** Comma-separated statuses. */
  status?: string | undefined;
  /** Comma-separated model names. */
  model?: string | undefined;
  /** Comma-separated versions (the one that ran the job, else the one asked for). */
  version?: string | undefined;
  /** Comma-separated failure codes. */
  errorCode?: string | undefined;
  /** ISO 8601 date-time: jobs submitted at or after it. */
  createdAfter?: string | undefined;
  /** ISO 8601 date-time: jobs submitted before it. */
  createdBefore?: string | undefined;
  /** `metadata[KEY]=VALUE` pairs, already read from the query (core's metadataFilterOf). */
  metadata?: JobMetadata | undefined;
}

export interface JobListInput extends JobFilterInput {
  cursor?: string | undefined;
  limit?: string | undefined;
}

/** The operators' filters: an owner's, plus the user and free text (id, file name, metadata values). */
export interface AdminJobFilterInput extends JobFilterInput {
  /** A user id. */
  userId?: string | undefined;
  /** At least 3 characters, matched anywhere in the id, the file name or a metadata value, ignoring case. */
  q?: string | undefined;
}

export interface JobPage {
  jobs: JobRecord[];
  /** Opaque; null on the last page. */
  nextCursor: string | null;
}

const modelNamePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
/** Longest ttl: a week (a job that waits longer has long stopped being worth running). */
export const maxTtlSeconds = 7 * 24 * 3600;
/** Longest execution deadline: a day. */
export const maxCancelAfterSeconds = 24 * 3600;

/** `ttlSeconds`: an integer number of seconds from 1 to maxTtlSeconds; undefined when absent. */
export function parseTtlSeconds(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const seconds = typeof value === 'number' ? value : /^[0-9]{1,7}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > maxTtlSeconds) {
    throw new AppError('VALIDATION_FAILED', `ttlSeconds must be an integer from 1 to ${maxTtlSeconds}.`, { details: { field: 'ttlSeconds', min: 1, max: maxTtlSeconds } });
  }
  return seconds;
}

const durationUnitsMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * A `Cancel-After` value in ms: plain seconds (`90`, `1.5`) or a duration of h, m, s and ms
 * parts in that order (`5m`, `1h30m`, `2.5s`, `500ms`), as Replicate's header takes it; from 100 ms
 * to maxCancelAfterSeconds. undefined when absent.
 */
export function parseCancelAfter(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const refuse = () =>
    new AppError('VALIDATION_FAILED', `Cancel-After must be seconds or a duration such as 90s, 5m or 1h30m, from 100 ms to ${maxCancelAfterSeconds / 3600} h.`, {
      details: { field: 'cancelAfter', header: 'Cancel-After' },
    });
  let ms: number;
  if (typeof value === 'number') ms = value * 1000;
  else {
    const text = value.trim().toLowerCase();
    if (/^[0-9]{1,6}(\.[0-9]{1,3})?$/.test(text)) ms = Number(text) * 1000;
    else {
      const match = /^(?:([0-9]{1,3})h)?(?:([0-9]{1,5})m(?!s))?(?:([0-9]{1,6}(?:\.[0-9]{1,3})?)s)?(?:([0-9]{1,9})ms)?$/.exec(text);
      if (!match || match.slice(1).every((part) => part === undefined)) throw refuse();
      const [, h, m, sec, milli] = match;
      ms = Number(h ?? 0) * durationUnitsMs.h! + Number(m ?? 0) * durationUnitsMs.m! + Number(sec ?? 0) * durationUnitsMs.s! + Number(milli ?? 0);
    }
  }
  if (!Number.isFinite(ms) || ms < 100 || ms > maxCancelAfterSeconds * 1000) throw refuse();
  return Math.round(ms);
}
/** The `webhookEvents` field: events from webhookEventFilters, comma-separated; undefined (the default, `completed`) when absent. */
function parseWebhookEvents(text: string | undefined, hasWebhook: boolean): WebhookEventFilter[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const refuse = (message: string) => new AppError('VALIDATION_FAILED', message, { details: { field: 'webhookEvents', allowed: webhookEventFilters } });
  if (!hasWebhook) throw refuse('webhookEvents needs a webhook URL.');
  const events = text.split(',').map((event) => event.trim());
  const unknown = events.filter((event) => !(webhookEventFilters as readonly string[]).includes(event));
  if (unknown.length > 0) throw refuse(`Unknown webhook event ${JSON.stringify(unknown[0])}: use ${webhookEventFilters.join(', ')}.`);
  return webhookEventFilters.filter((event) => events.includes(event));
}

/**
 * UNKNOWN_MODEL that says what there is: the models served here, or the versions of the model
 * named (`details.models`: name and versions of each), so a typo is fixed without another request.
 */
async function unknownModel(models: ModelCatalog, name: string, version: string | undefined): Promise<AppError> {
  const available = (await models.list?.().catch(() => null)) ?? null;
  const details = { model: name, version, ...(available ? { models: available } : {}) };
  const named = available?.find((model) => model.name === name);
  if (version !== undefined && named) {
    return new AppError('UNKNOWN_MODEL', `No such model: ${name}@${version}. Versions of ${name}: ${named.versions.join(', ')}.`, { details });
  }
  const there = available === null ? '' : available.length === 0 ? ' No models are served here.' : ` Models here: ${available.map((model) => model.name).join(', ')}.`;
  return new AppError('UNKNOWN_MODEL', `No such model: ${name}${version ? `@${version}` : ''}.${there}`, { details });
}

/** Visible ASCII, as in the IETF Idempotency-Key draft's examples. */
const idempotencyKeyPattern = /^[\x21-\x7e]+$/;
const idempotencyWindowMs = 24 * 3600 * 1000;
const defaultPageSize = 20;
const maxPageSize = 100;

/**
 * The stored key of image `index` of a batch sent with `Idempotency-Key: key`. Namespaced by
 * route: the space cannot occur in a client's key (visible ASCII only), so no single submit's key
 * (`K:0` included) can ever name a batch's image, nor the other way round.
 */
function batchImageKey(key: string, index: number): string {
  return `batch ${key}:${index}`;
}

/** A batch's key leaves room for the `batch ` and `:<index>` each image's stored key adds. */
function checkIdempotencyKey(key: string | undefined, maxLength: number): void {
  if (key !== undefined && (key.length > maxLength || !idempotencyKeyPattern.test(key))) {
    throw new AppError('VALIDATION_FAILED', `The Idempotency-Key header must be 1 to ${maxLength} visible ASCII characters.`, { details: { header: 'Idempotency-Key' } });
  }
}

const jobNotFound = () => new AppError('JOB_NOT_FOUND', 'No such job.');
const jobFinished = (status: JobStatus) => new AppError('JOB_FINISHED', `The job is already ${status}.`, { details: { status } });

/**
 * A job's lifecycle as the API drives it: submit, look up, wait, list, cancel, and an operator's
 * retry. Each exists once here, for owners and operators alike. Returns data or throws AppError;
 * knows nothing of HTTP.
 */
export class JobService {
  readonly #options: JobServiceOptions;
  /** The status transitions this service makes (queued, canceled, an operator's retry), each written and announced. */
  readonly #lifecycle: JobLifecycle;

  constructor(options: JobServiceOptions) {
    this.#options = options;
    this.#lifecycle = new JobLifecycle({ execution: options.execution, events: options.events });
    // Two groups at once: one can be enqueueing while the next is in its transaction.
    this.#admissions = new GroupCommit({ maxGroupSize: options.maxAdmissionGroup ?? 128, concurrency: 2, run: (group) => this.#admitGroup(group) });
  }

  /** The global cap on queued + running jobs, as operators are shown it. */
  get queueCap(): number {
    return this.#options.maxQueuedJobs ?? defaultMaxQueuedJobs;
  }

  submit(input: SubmitJobInput): Promise<SubmitJobResult> {
    return this.#tracing.inSpan('submit', { attributes: { 'inferq.images': 1 } }, (span) => this.#submit(input, span));
  }

  get #tracing(): Tracing {
    return this.#options.tracing ?? disabledTracing;
  }

  async #submit(input: SubmitJobInput, span: Span): Promise<SubmitJobResult> {
    const { admission } = this.#options;
    const { principal, idempotencyKey } = input;
    checkIdempotencyKey(idempotencyKey, 255);
    const tier = tierOf(principal.tier, this.#options.tiers);
    if (idempotencyKey) {
      const earlier = await admission.findByIdempotencyKey(principal.userId, idempotencyKey, new Date(Date.now() - idempotencyWindowMs));
      if (earlier) return { job: await this.#checkReplay(earlier, input, tier), replayed: true };
    }
    if (!input.image && !input.reference) throw new AppError('MISSING_IMAGE', 'Send the image in the multipart field "image", or give imageUrl or uploadId in a JSON body.');
    const context = await this.#prepare(input);
    if (context.model.tensors) throw tensorModel(context.modelName);
    const source = input.image ? { bytes: input.image, uploadKey: undefined } : await this.#resolveReference(context, input.reference!);
    const image = await this.#validate(context, source.bytes);
    const pending = this.#admissionOf(context, image, idempotencyKey, input.fileName, span);
    pending.uploadKey = source.uploadKey;
    const outcome = await this.#admissions.submit(pending);
    // A repeat that raced the first submit with the same key: the same request, or 422.
    if (outcome.outcome === 'duplicate') return { job: await this.#checkReplay(outcome.job, input, tier, image.sha256), replayed: true };
    return this.#resultOf(context, outcome);
  }

  /**
   * Submits a tensor inference as a job: the request is checked against the model's inputs
   * (INVALID_TENSOR for a wrong name, datatype, shape or element count), and stored through the
   * same input store and admission as an image (quota, priority, idempotency key, webhook, the
   * global cap), its tensors as the job's input. The model is named by the request's path, so an
   * unknown one is MODEL_NOT_FOUND; an image model is MODEL_KIND_MISMATCH.
   */
  submitTensors(input: SubmitTensorsInput): Promise<SubmitTensorsResult> {
    return this.#tracing.inSpan('submit', { attributes: { 'inferq.images': 0 } }, (span) => this.#submitTensors(input, span));
  }

  async #submitTensors(input: SubmitTensorsInput, span: Span): Promise<SubmitTensorsResult> {
    const { principal, idempotencyKey } = input;
    checkIdempotencyKey(idempotencyKey, 255);
    const tier = tierOf(principal.tier, this.#options.tiers);
    const context = await this.#prepare(input).catch((error: unknown) => {
      if (isAppError(error) && error.code === 'UNKNOWN_MODEL') throw new AppError('MODEL_NOT_FOUND', error.message, { details: error.details });
      throw error;
    });
    const signature = context.model.tensors;
    if (!signature) {
      throw new AppError('MODEL_KIND_MISMATCH', `Model ${context.modelName} takes an image: submit it to POST /v1/jobs.`, { details: { model: context.modelName, takes: 'image' } });
    }
    const request = parseInferRequest(input.header, input.binary, signature);
    const data = encodeTensorPayload(request);
    if (data.byteLength > tier.maxUploadBytes) {
      throw new AppError('PAYLOAD_TOO_LARGE', `The tensors take ${data.byteLength} bytes; the ${tier.name} tier takes at most ${tier.maxUploadBytes}.`, {
        details: { bytes: data.byteLength, maxBytes: tier.maxUploadBytes },
      });
    }
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (idempotencyKey) {
      const earlier = await this.#options.admission.findByIdempotencyKey(principal.userId, idempotencyKey, new Date(Date.now() - idempotencyWindowMs));
      if (earlier) return { job: this.#checkTensorReplay(earlier, context, sha256), replayed: true, request };
    }
    const stored = { data, format: tensorInputFormat, width: 0, height: 0, sha256, pixels: undefined };
    const outcome = await this.#admissions.submit(this.#admissionOf(context, stored, idempotencyKey, undefined, span));
    if (outcome.outcome === 'duplicate') return { job: this.#checkTensorReplay(outcome.job, context, sha256), replayed: true, request };
    return { ...this.#resultOf(context, outcome), request };
  }

  #checkTensorReplay(earlier: JobRecord, context: SubmitContext, sha256: string): JobRecord {
    const field = earlier.modelName !== context.modelName ? 'model' : (context.version ?? null) !== earlier.requestedVersion ? 'model version' : earlier.inputSha256 !== sha256 ? 'tensors' : null;
    if (field === null) return earlier;
    throw new AppError('IDEMPOTENCY_KEY_REUSED', `This Idempotency-Key was used for job ${earlier.id} with other ${field}; use a new key for a new request.`, {
      details: { jobId: earlier.id, field },
    });
  }

  /**
   * Submits many images of one caller with the same model, version and webhook: each is
   * validated on its own, and every valid one admitted in one group (one transaction, one
   * enqueue), so the quota counts them in order. Errors of the request as a whole (no such
   * model, a bad webhook, the queue full or down before any image is read) throw; an image's own
   * error (invalid, too large, over the quota, past the global cap: QUEUE_FULL, or not enqueued:
   * QUEUE_UNAVAILABLE) is its item's. With an idempotency key K, image i is submitted under a
   * key of its own that no single submit can send (batchImageKey).
   */
  submitMany(input: SubmitBatchInput): Promise<BatchItemResult[]> {
    return this.#tracing.inSpan('submit', { attributes: { 'inferq.images': input.images.length } }, (span) => this.#submitMany(input, span));
  }

  async #submitMany(input: SubmitBatchInput, span: Span): Promise<BatchItemResult[]> {
    const { idempotencyKey } = input;
    checkIdempotencyKey(idempotencyKey, 240);
    if (input.images.length === 0) throw new AppError('MISSING_IMAGE', 'Send the images in multipart fields named "image".');
    const context = await this.#prepare(input);
    if (context.model.tensors) throw tensorModel(context.modelName);
    const items: Array<BatchItemResult | undefined> = Array.from({ length: input.images.length });
    const valid: Array<{ index: number; pending: PendingAdmission }> = [];
    // Two at a time: a batch keeps the thread pool busy without holding more than two images'
    // decode memory of its user's share.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(2, input.images.length) }, async () => {
        for (let index = next++; index < input.images.length; index = next++) {
          const given = input.images[index]!;
          try {
            if (!Buffer.isBuffer(given) && 'tooLarge' in given) {
              const maxBytes = this.#maxUploadBytes(context.tier);
              throw imageTooLargeError(maxBytes, given.size);
            }
            const source = Buffer.isBuffer(given) ? { bytes: given, uploadKey: undefined } : await this.#resolveReference(context, given.reference);
            const image = await this.#validate(context, source.bytes);
            const pending = this.#admissionOf(context, image, idempotencyKey ? batchImageKey(idempotencyKey, index) : undefined, input.fileNames?.[index], span);
            pending.uploadKey = source.uploadKey;
            valid.push({ index, pending });
          } catch (error) {
            if (!isAppError(error)) throw error;
            items[index] = { ok: false, error };
          }
        }
      }),
    );
    valid.sort((a, b) => a.index - b.index);
    const outcomes = await this.#admissions.submitAll(valid.map((entry) => entry.pending));
    await Promise.all(
      valid.map(async ({ index, pending }, i) => {
        try {
          const outcome = outcomes[i]!;
          // An image answered with the job of its key must be the same request as that job's.
          const result =
            outcome.outcome === 'duplicate'
              ? { job: await this.#checkReplay(outcome.job, { ...input, image: pending.request.job.input.data, reference: undefined }, context.tier, pending.request.job.input.sha256), replayed: true }
              : this.#resultOf(context, outcome);
          items[index] = { ok: true, ...result };
        } catch (error) {
          if (!isAppError(error)) throw error;
          items[index] = { ok: false, error };
        }
      }),
    );
    return items as BatchItemResult[];
  }

  /** The checks of a submit that do not depend on the image: tier, model, webhook, queue. */
  async #prepare(input: Omit<SubmitJobInput, 'image'>): Promise<SubmitContext> {
    const { queue, models, defaultModel } = this.#options;
    const tier = tierOf(input.principal.tier, this.#options.tiers);
    const modelName = input.model?.trim() || defaultModel;
    const version = input.modelVersion?.trim() || undefined;
    if (!modelNamePattern.test(modelName) || (version !== undefined && !modelNamePattern.test(version))) {
      throw new AppError('UNKNOWN_MODEL', 'No such model.', { details: { model: modelName.slice(0, 64), version } });
    }
    // A split decides the version of a job that names none (one per submit: a batch's images go together).
    const route = version === undefined ? ((await this.#options.routing?.route(modelName, input.principal.userId)) ?? undefined) : undefined;
    const model = (route ? await models.resolve(modelName, route.version) : null) ?? (await models.resolve(modelName, version));
    if (!model) throw await unknownModel(models, modelName, version);
    const webhookUrl = input.webhook ? checkWebhookUrl(input.webhook, this.#options.webhookPolicy) : undefined;
    const webhookEvents = parseWebhookEvents(input.webhookEvents, webhookUrl !== undefined);
    const ttlSeconds = parseTtlSeconds(input.ttlSeconds);
    const cancelAfterMs = parseCancelAfter(input.cancelAfter);
    const metadata = parseJobMetadata(input.metadata);
    // Refuse at once while Redis is down: no row is written for a job that cannot be queued.
    if (!queue.isReady()) throw queueUnavailable();
    if (input.resultPrefix !== undefined && (!this.#options.blobs || !isResultPrefix(input.resultPrefix))) {
      const message = this.#options.blobs ? 'resultPrefix is path segments of letters, digits, ".", "_" and "-".' : 'A result sink needs a blob store (BLOB_STORE_URL) on this platform.';
      throw new AppError('VALIDATION_FAILED', message, { details: { field: 'resultPrefix' } });
    }
    const inFlight = await this.#checkCapacity();
    // The routed version must be the one resolved: a version gone since the split was read runs the live one.
    const routed = route && model.version === route.version ? route : undefined;
    return { principal: input.principal, tier, modelName, version, route: routed, model, webhookUrl, webhookEvents, ttlMs: ttlSeconds === undefined ? undefined : ttlSeconds * 1000, cancelAfterMs, metadata, inFlight, resultPrefix: input.resultPrefix };
  }

  /**
   * The bytes of an image given by reference, bounded by the caller's upload limit, for #validate
   * to check as it checks an upload. `imageUrl`: fetched now, under the input fetch policy (a URL
   * the guard refuses is INVALID_INPUT_URL and never fetched; a fetch that fails is
   * INPUT_FETCH_FAILED, answered to this submit). `uploadId`: the caller's upload, read from the
   * blob store (UPLOAD_NOT_FOUND when absent or expired).
   */
  async #resolveReference(context: SubmitContext, reference: InputReference): Promise<{ bytes: Buffer; uploadKey: string | undefined }> {
    const maxBytes = this.#maxUploadBytes(context.tier);
    if (reference.imageUrl !== undefined) {
      const fetchOptions = this.#options.inputFetch ?? {};
      try {
        const { body } = await fetchBounded(reference.imageUrl, { policy: fetchOptions.policy ?? {}, maxBytes, timeoutMs: fetchOptions.timeoutMs ?? 10_000, accept: 'image/*' });
        return { bytes: body, uploadKey: undefined };
      } catch (error) {
        if (error instanceof FetchRefusedError) {
          throw new AppError('INVALID_INPUT_URL', `The image URL is refused: ${error.reason.replaceAll('_', ' ')}.`, { details: { field: 'imageUrl', reason: error.reason } });
        }
        if (error instanceof FetchFailedError) {
          if (error.reason === 'too_large') throw new AppError('INPUT_FETCH_FAILED', `The image at the URL is larger than ${maxBytes} bytes.`, { details: { field: 'imageUrl', reason: error.reason, maxBytes } });
          throw new AppError('INPUT_FETCH_FAILED', `The image could not be fetched: ${error.message}.`, { details: { field: 'imageUrl', reason: error.reason, ...(error.status ? { status: error.status } : {}) } });
        }
        throw error;
      }
    }
    const blobs = this.#options.blobs;
    const uploadId = reference.uploadId.toLowerCase();
    if (!blobs || !uploadIdPattern.test(uploadId)) throw uploadNotFound();
    const key = uploadBlobKey(context.principal.userId, uploadId);
    let bytes: Buffer | null;
    try {
      const info = await blobs.stat(key);
      if (!info || info.modifiedAt.getTime() < Date.now() - this.#uploadTtlMs) throw uploadNotFound();
      bytes = await blobs.get(key, { maxBytes });
    } catch (error) {
      if (error instanceof BlobTooLargeError) throw imageTooLargeError(maxBytes, error.size);
      if (isAppError(error)) throw error;
      throw storageUnavailable(error);
    }
    if (!bytes) throw uploadNotFound();
    return { bytes, uploadKey: key };
  }

  /** The largest image the caller may send: the platform's limit, or their tier's when lower. */
  #maxUploadBytes(tier: Tier): number {
    return Math.min(this.#options.imageLimits.maxBytes, tier.maxUploadBytes);
  }

  /** The blob store uploads go to; without one there are no uploads. */
  #uploadStore(): BlobStore {
    const blobs = this.#options.blobs;
    if (!blobs) throw new AppError('STORAGE_UNAVAILABLE', 'Uploads need a blob store (BLOB_STORE_URL); send the image in the submit instead.');
    return blobs;
  }

  get #uploadTtlMs(): number {
    return (this.#options.uploadTtlSeconds ?? 900) * 1000;
  }

  /**
   * Makes room for one upload of the caller's: a fresh id under the caller's own prefix, and a
   * presigned PUT when the store has them (the bytes then never pass through the API). The
   * declared size is held to the caller's upload limit here, by the bucket's signature on the
   * PUT, and again when the upload is read at submit.
   */
  async createUpload(principal: Principal, body: { contentType: string; size: number }): Promise<CreatedUpload> {
    const blobs = this.#uploadStore();
    if (!uploadContentTypePattern.test(body.contentType)) {
      throw new AppError('VALIDATION_FAILED', 'contentType must be an image type (image/jpeg, image/png, …) or application/octet-stream.', { details: { field: 'contentType' } });
    }
    const maxBytes = this.#maxUploadBytes(tierOf(principal.tier, this.#options.tiers));
    if (body.size > maxBytes) throw imageTooLargeError(maxBytes, body.size);
    const uploadId = randomUUID();
    const ttlSeconds = this.#options.uploadTtlSeconds ?? 900;
    let presigned: CreatedUpload['presigned'];
    try {
      presigned = await blobs.presignPut(uploadBlobKey(principal.userId, uploadId), { contentType: body.contentType, size: body.size, expiresInSeconds: ttlSeconds });
    } catch (error) {
      throw storageUnavailable(error);
    }
    return { uploadId, presigned, expiresAt: new Date(Date.now() + ttlSeconds * 1000) };
  }

  /** Takes an upload's bytes through the API itself, for a store that cannot presign (the filesystem driver). */
  async putUpload(principal: Principal, uploadId: string, bytes: Buffer): Promise<void> {
    const blobs = this.#uploadStore();
    const id = uploadId.toLowerCase();
    // With a bucket the PUT goes to the presigned URL, never here.
    if (blobs.kind !== 'file' || !uploadIdPattern.test(id)) throw uploadNotFound();
    const maxBytes = this.#maxUploadBytes(tierOf(principal.tier, this.#options.tiers));
    if (bytes.byteLength > maxBytes) throw imageTooLargeError(maxBytes, bytes.byteLength);
    if (bytes.byteLength === 0) throw new AppError('VALIDATION_FAILED', 'The upload is empty.', { details: { field: 'body' } });
    try {
      await blobs.put(uploadBlobKey(principal.userId, id), bytes);
    } catch (error) {
      throw storageUnavailable(error);
    }
  }

  /**
   * Validates one image within the caller's tier limits, its decode counted against the caller's
   * share. With a pixel store that has room, the validating decode also makes the model's pixels
   * (the job's one decode); without, the check is the cheapest that still reads all the data.
   */
  async #validate(context: SubmitContext, bytes: Buffer): Promise<ValidatedImage> {
    const { imageLimits, decodePixels, pixels: store } = this.#options;
    const userId = context.principal.userId;
    const spec = context.model.input;
    const handOver = spec !== undefined && store !== undefined && store.fits(pixelSpecBytes(spec), context.inFlight);
    return validateImage(
      bytes,
      { ...imageLimits, maxBytes: Math.min(imageLimits.maxBytes, context.tier.maxUploadBytes), maxPixels: Math.min(imageLimits.maxPixels, context.tier.maxPixels) },
      {
        // Only where the pixels pay for moving (pixelsWorthStoring: small, or 8-bit from an image
        // of at least twice the input's pixels). nsfw's exact float pixels (602 kB) cost the API
        // more to make and hand over than the worker's own decode (pnpm bench e2e
        // --api-env PIXEL_HANDOFF=always: API 9.0 → 19.4 ms, workers 22.9 → 17.2 ms of CPU a job).
        ...(handOver ? { pixels: spec, preparePixels: this.#options.pixelHandoff ?? 'worthwhile' } : {}),
        keepMetadata: this.#options.keepImageMetadata ?? false,
        beforeDecode: decodePixels
          ? async (declared) => (await acquireTurn(decodePixels, 'decodePixels', userId, decodeCost(declared), { weight: context.tier.shareWeight })).release
          : undefined,
      },
    );
  }

  #admissionOf(context: SubmitContext, image: Pick<ValidatedImage, 'data' | 'width' | 'height' | 'sha256' | 'pixels'> & { format: string }, idempotencyKey: string | undefined, fileName: string | undefined, span: Span): PendingAdmission {
    const { principal, tier, modelName, version, route, webhookUrl, webhookEvents, ttlMs, cancelAfterMs, resultPrefix, metadata } = context;
    const id = randomUUID();
    const runOn = version ?? route?.version;
    return {
      request: {
        job: {
          id,
          userId: principal.userId,
          modelName,
          requestedVersion: version,
          routedVersion: route?.version,
          expiresAt: retentionEnd(tier),
          idempotencyKey,
          webhookUrl,
          webhookEvents,
          // Counted from the moment the image is accepted, so a slow upload does not eat the ttl.
          startBy: ttlMs === undefined ? undefined : new Date(Date.now() + ttlMs),
          cancelAfterMs,
          resultPrefix,
          metadata,
          input: { data: image.data, format: image.format, width: image.width, height: image.height, sha256: image.sha256, fileName: sanitizeFileName(fileName) },
        },
        limit: { maxInFlight: tier.maxJobsInFlight, priorityFor: (inFlight) => jobPriority(tier, inFlight), idempotencyWindowMs },
      },
      payload: { jobId: id, model: modelName, ...(runOn ? { modelVersion: runOn } : {}) },
      shadow: route?.shadow,
      pixels: image.pixels,
      span,
    };
  }

  #resultOf(context: SubmitContext, outcome: AdmissionOutcome): SubmitJobResult {
    if (outcome.outcome === 'failed') throw outcome.error;
    if (outcome.outcome === 'duplicate') return { job: outcome.job, replayed: true };
    if (outcome.outcome === 'over-quota') {
      throw new AppError(
        'QUOTA_EXCEEDED',
        `You have ${outcome.inFlight} jobs queued or running; the ${context.tier.name} tier allows ${outcome.maxInFlight} at once. Submit again when some finish, or cancel some.`,
        { details: { inFlight: outcome.inFlight, maxInFlight: outcome.maxInFlight, tier: context.tier.name } },
      );
    }
    return { job: outcome.job, replayed: false };
  }

  /**
   * Group commit of admissions: the submits that arrive while one group is written go together
   * in the next, in one transaction (JobAdmission.admitMany) and one enqueue (addBulk), so one
   * user's burst no longer waits admission by admission, and the per-job statements and round
   * trips are shared. A job is answered only once its row is committed and it is queued.
   */
  readonly #admissions: GroupCommit<PendingAdmission, AdmissionOutcome>;

  async #admitGroup(group: PendingAdmission[]): Promise<AdmissionOutcome[]> {
    const { queue } = this.#options;
    // The global cap, per job: room for the whole group is reserved at once (atomic across API
    // processes), the first `granted` jobs go on, the rest are QUEUE_FULL each. The room is
    // held until the jobs are in the queue, where the cap counts them.
    const reservation = await queue.reserveCapacity(group.length, this.queueCap);
    try {
      return await this.#admitReserved(group, reservation.granted);
    } finally {
      await reservation.release();
    }
  }

  async #admitReserved(group: PendingAdmission[], granted: number): Promise<AdmissionOutcome[]> {
    const { admission, queue } = this.#options;
    const tracing = this.#tracing;
    const admitted = group.slice(0, granted);
    // Off, no span is started and nothing is added to the payloads.
    const groupAttributes = { 'inferq.group_size': admitted.length };
    const admissionSpans = tracing.enabled ? admitted.map((pending) => tracing.startSpan('admission', { parent: pending.span, attributes: groupAttributes })) : [];
    let results: AdmissionOutcome[];
    try {
      results = admitted.length > 0 ? await this.#admitStored(admitted) : [];
    } finally {
      for (const span of admissionSpans) span.end();
    }
    for (let i = granted; i < group.length; i++) results.push({ outcome: 'failed', error: this.#queueFull() });
    const created = admitted.flatMap((pending, i) => {
      const result = results[i]!;
      return result.outcome === 'created' ? [{ pending, job: result.job, i }] : [];
    });
    if (created.length === 0) return results;
    const enqueueSpans = tracing.enabled
      ? created.map(({ pending, job }) => {
          const span = tracing.startSpan('enqueue', { parent: pending.span, attributes: { 'inferq.job_id': job.id, 'inferq.model': job.modelName, 'inferq.group_size': created.length } });
          const traceparent = tracing.carrier(span)?.traceparent;
          if (traceparent) pending.payload.traceparent = traceparent;
          return span;
        })
      : [];
    // The pixels go first, so the worker that takes a job finds them. Should Redis refuse them,
    // the enqueue below fails too, or the worker decodes the stored upload: nothing is lost.
    const handed = created.flatMap(({ pending, job }) => (pending.pixels ? [{ jobId: job.id, pixels: pending.pixels }] : []));
    if (handed.length > 0) await this.#options.pixels?.putMany(handed).catch(() => {});
    try {
      await queue.enqueueMany(created.map(({ pending, job }) => ({ payload: pending.payload, priority: job.priority ?? undefined })));
    } catch (error) {
      for (const span of enqueueSpans) span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message }).end();
      // The clients get no ids, so the rows must not stay behind looking queued.
      await admission.discardMany(created.map(({ job }) => job.id)).catch(() => {});
      await this.#options.blobs?.delete(created.map(({ job }) => inputBlobKey(job.id))).catch(() => {});
      for (const { i } of created) results[i] = { outcome: 'failed', error };
      return results;
    }
    for (const span of enqueueSpans) span.end();
    // Shadow runs go on their model's shadow queue once the primaries are queued: the owner pays no
    // quota for them (no row of their own) and never waits for them, nor fails for them.
    const shadows = created.flatMap(({ pending, job }) => (pending.shadow ? [{ jobId: job.id, model: job.modelName, modelVersion: pending.shadow, shadow: true as const }] : []));
    // A shadow not queued (Redis away) is a comparison pair fewer, nothing a user loses.
    if (shadows.length > 0) void queue.enqueueShadows(shadows).catch(() => {});
    // An upload is used once: its bytes now live on as the job's input.
    const usedUploads = created.flatMap(({ pending }) => (pending.uploadKey ? [pending.uploadKey] : []));
    if (usedUploads.length > 0) void this.#options.blobs?.delete(usedUploads).catch(() => {});
    this.#lifecycle.queued(created.map(({ pending, job }) => ({ id: job.id, userId: pending.request.job.userId, model: job.modelName })));
    return results;
  }

  /**
   * Admits a group, its input bytes first written to the blob store when there is one (the rows
   * then keep only the key): a row never names a blob that is not there. A blob whose job was not
   * created (over the quota, a replayed key) is deleted again. A store that fails refuses the
   * whole group with STORAGE_UNAVAILABLE, nothing written.
   */
  async #admitStored(admitted: PendingAdmission[]): Promise<AdmissionOutcome[]> {
    const { admission, blobs } = this.#options;
    if (!blobs) return admission.admitMany(admitted.map((pending) => pending.request));
    const keys = admitted.map((pending) => inputBlobKey(pending.request.job.id));
    const written = await Promise.allSettled(admitted.map((pending, i) => blobs.put(keys[i]!, pending.request.job.input.data, { contentType: `image/${pending.request.job.input.format}` })));
    const failed = written.find((outcome) => outcome.status === 'rejected');
    if (failed) {
      await blobs.delete(keys).catch(() => {});
      const error = storageUnavailable(failed.reason);
      return admitted.map(() => ({ outcome: 'failed', error }));
    }
    let results: AdmitResult[];
    try {
      results = await admission.admitMany(admitted.map((pending, i) => ({ ...pending.request, job: { ...pending.request.job, input: { ...pending.request.job.input, blobKey: keys[i] } } })));
    } catch (error) {
      await blobs.delete(keys).catch(() => {});
      throw error;
    }
    const unused = keys.filter((_, i) => results[i]!.outcome !== 'created');
    if (unused.length > 0) await blobs.delete(unused).catch(() => {});
    return results;
  }

  /** The queue-length read in progress, shared by every submit that arrives while it runs. */
  #capacityRead: Promise<number> | undefined;

  /**
   * A submit under the Idempotency-Key of an earlier one is answered with that job only when it
   * is the same request: the same model and version, and the same image (its stored bytes, so an
   * upload whose trailing bytes were cut still matches). Anything else is 422
   * IDEMPOTENCY_KEY_REUSED, never the other job.
   */
  async #checkReplay(earlier: JobRecord, input: SubmitJobInput, tier: Tier, storedSha256?: string): Promise<JobRecord> {
    const reused = (field: string) =>
      new AppError('IDEMPOTENCY_KEY_REUSED', `This Idempotency-Key was used for job ${earlier.id} with another ${field}; use a new key for a new request.`, {
        details: { jobId: earlier.id, field },
      });
    const modelName = input.model?.trim() || this.#options.defaultModel;
    if (modelName !== earlier.modelName) throw reused('model');
    if ((input.modelVersion?.trim() || null) !== earlier.requestedVersion) throw reused('model version');
    // By reference, the same key with the same model is the same request: the reference is not
    // fetched again (an upload is used once, and a URL may answer other bytes by now).
    if (!input.image && input.reference) return earlier;
    if (!input.image) throw reused('image');
    const sha256 = storedSha256 ?? createHash('sha256').update(input.image).digest('hex');
    if (sha256 === earlier.inputSha256) return earlier;
    if (storedSha256) throw reused('image');
    // Not byte for byte the stored image: it may still be once validation cuts what follows the image.
    const { imageLimits } = this.#options;
    const image = await validateImage(input.image, {
      ...imageLimits,
      maxBytes: Math.min(imageLimits.maxBytes, tier.maxUploadBytes),
      maxPixels: Math.min(imageLimits.maxPixels, tier.maxPixels),
    }, { keepMetadata: this.#options.keepImageMetadata ?? false }).catch(() => undefined);
    if (image?.sha256 !== earlier.inputSha256) throw reused('image');
    return earlier;
  }

  /**
   * The global cap on work in the system, checked early, before an image is decoded: a full
   * platform refuses at once. It only reads (concurrent submits can pass it together); what
   * holds the cap per job is the reservation each admission group takes (#admitGroup). Submits
   * that arrive while one read of the queue length is in flight share it (one Redis round trip
   * for all of them).
   */
  async #checkCapacity(): Promise<number> {
    let inFlight: number;
    try {
      this.#capacityRead ??= this.#options.queue.inFlightCount().finally(() => (this.#capacityRead = undefined));
      inFlight = await this.#capacityRead;
    } catch (error) {
      throw queueUnavailable(error);
    }
    if (inFlight >= this.queueCap) throw this.#queueFull();
    return inFlight;
  }

  #queueFull(): AppError {
    const retryAfter = this.#options.queueFullRetryAfterSeconds ?? 5;
    return new AppError('QUEUE_FULL', `The platform is at capacity; nothing was stored. Try again in ${retryAfter} s.`, { retryAfterSeconds: retryAfter });
  }

  /**
   * Cancels a job of the caller's. Queued: it leaves the queue. Running: the attempt finishes but
   * its result is discarded. Already final: 409 JOB_FINISHED.
   */
  async cancel(principal: Principal, id: string): Promise<JobRecord> {
    return this.#cancel(await this.get(principal, id));
  }

  /** Cancels any user's job, as `cancel` does for the owner's; for operators. */
  async cancelAny(id: string): Promise<JobRecord> {
    return this.#cancel(await this.#find(id));
  }

  async #cancel(job: JobRecord): Promise<JobRecord> {
    const { queries, queue } = this.#options;
    if (isFinalStatus(job.status)) throw jobFinished(job.status);
    const canceled = await this.#lifecycle.cancel({ id: job.id, userId: job.userId, model: job.modelName }, async () => {
      // Best effort: a job still in Redis (running, or Redis down) is skipped by the worker, which
      // only starts queued or running rows.
      await queue.remove(job.id, job.modelName).catch(() => false);
      void this.#options.pixels?.removeMany([job.id]).catch(() => {});
    });
    if (!canceled) throw jobFinished((await queries.get(job.id))?.status ?? job.status);
    return (await queries.get(job.id)) ?? job;
  }

  /**
   * Deletes a job of the caller's with its input, result and webhook deliveries, whatever its
   * status: a queued job leaves the queue, a running one is forgotten (its late result matches no
   * row and is dropped). Another user's job, or one already deleted, is JOB_NOT_FOUND.
   */
  async delete(principal: Principal, id: string): Promise<void> {
    if (!isUuid(id)) throw jobNotFound();
    const deleted = await this.#deleteOwned({ userId: principal.userId, id });
    if (deleted.count === 0) throw jobNotFound();
  }

  /** Deletes every job of a user (an account's erasure), as `delete` does one. */
  async deleteAllOf(userId: string): Promise<DeletedJobs> {
    return this.#deleteOwned({ userId });
  }

  async #deleteOwned(query: { userId: string; id?: string }): Promise<DeletedJobs> {
    const { maintenance, queue } = this.#options;
    if (!maintenance) throw new Error('JobService was built without maintenance: deletions are off');
    const deleted = await maintenance.deleteOwned(query);
    // Postgres first, then the queue, best effort: an entry left behind (Redis down, or held by a
    // worker) finds no row, and the worker skips it.
    await Promise.all(deleted.inFlight.map((job) => queue.discard(job.id, job.modelName).catch(() => 0)));
    // Handed-over pixels are a copy of the input: they go too (else their TTL drops them).
    await this.#options.pixels?.removeMany(deleted.inFlight.map((job) => job.id)).catch(() => {});
    const blobs = this.#options.blobs;
    if (blobs) {
      // Not best effort: an erasure that leaves bytes behind must fail loudly, and the rows are
      // gone already, so the keys come from the ids.
      try {
        await blobs.delete([...deleted.ids.map((id) => inputBlobKey(id)), ...deleted.resultCopies.map((copy) => resultSinkKey(copy.id, copy.resultPrefix))]);
        if (!query.id) await blobs.delete(await blobs.list(`${blobPrefixes.uploads}${query.userId.toLowerCase()}/`));
      } catch (error) {
        throw storageUnavailable(error);
      }
    }
    return deleted;
  }

  /**
   * Runs a failed job again under the same id, for operators: BullMQ's failed entry is removed,
   * the row goes back to `queued` with its error cleared, and the job is enqueued. If the enqueue
   * fails the row is failed again with its old error, so it never looks queued without being in
   * the queue.
   */
  async retry(id: string): Promise<JobRecord> {
    const { queue } = this.#options;
    const row = await this.#find(id);
    if (row.status !== 'failed') {
      throw new AppError('CONFLICT', 'Only a failed job can be retried.', { details: { status: row.status } });
    }
    if (!queue.isReady()) throw queueUnavailable();
    const entry = await queue.getJob(id, row.modelName);
    if (entry) {
      if ((await entry.getState()) === 'active') throw new AppError('CONFLICT', 'The job is still held by a worker.');
      // BullMQ ignores an add whose id exists, so the old entry must go first.
      await entry.remove();
    }
    // Should the enqueue fail, the lifecycle fails the row again with its old error.
    const reset = await this.#lifecycle.requeueFailed({ id, userId: row.userId, model: row.modelName, errorCode: row.errorCode, errorMessage: row.errorMessage }, () =>
      queue.enqueue(
        { jobId: id, model: row.modelName, ...((row.requestedVersion ?? row.routedVersion) ? { modelVersion: (row.requestedVersion ?? row.routedVersion) as string } : {}) },
        row.priority !== null ? { priority: row.priority } : {},
      ),
    );
    if (!reset) throw new AppError('CONFLICT', 'The job changed meanwhile; reload it.');
    return reset;
  }

  /** The caller's jobs, newest first. */
  async list(principal: Principal, input: JobListInput): Promise<JobPage> {
    return this.#list(principal.userId, input);
  }

  /**
   * Every user's jobs (or one user's), newest first, by the owners' filters plus free text; for
   * administrators.
   */
  async listAll(input: JobListInput & AdminJobFilterInput): Promise<JobPage> {
    return this.#list(undefined, input, parseAdminFilter(input));
  }

  /** How many jobs an operators' filter covers, up to `cap`. */
  async countAll(input: AdminJobFilterInput, cap: number): Promise<number> {
    return this.#options.queries.count(parseAdminFilter(input), cap);
  }

  async #list(userId: string | undefined, input: JobListInput, filter: JobFilter = parseFilter(input)): Promise<JobPage> {
    const limit = parseLimit(input.limit);
    const jobs = await this.#options.queries.list({
      ...filter,
      ...(userId === undefined ? {} : { userId }),
      after: input.cursor === undefined ? undefined : decodeCursor(input.cursor),
      limit: limit + 1,
    });
    const page = jobs.slice(0, limit);
    const last = page.at(-1);
    return { jobs: page, nextCursor: jobs.length > limit && last ? encodeCursor(last) : null };
  }

  /**
   * A job of the caller's once it is final, or as it is after `timeoutMs`. Costs no database
   * reads while nothing happens (see JobWaiter). `job` is null only when the wait was aborted.
   */
  async waitFor(principal: Principal, id: string, options: { timeoutMs: number; signal?: AbortSignal | undefined }): Promise<WaitOutcome> {
    const waiter = this.#options.waiter;
    if (!waiter || options.timeoutMs <= 0) {
      const job = await this.get(principal, id);
      return { job, reason: isFinalStatus(job.status) ? 'final' : 'timeout' };
    }
    if (!isUuid(id)) throw jobNotFound();
    const outcome = await waiter.wait(id, { ...options, accept: (job) => job.userId === principal.userId });
    if (outcome.reason === 'refused') throw jobNotFound();
    return outcome;
  }

  /** The webhook delivery attempts of a job of the caller's, oldest first. */
  async deliveries(principal: Principal, id: string) {
    await this.get(principal, id);
    return this.deliveriesOf(id);
  }

  /** The webhook delivery attempts of any job, oldest first (every delivery, redeliveries included); for operators. */
  async deliveriesOf(id: string) {
    return (await this.#options.deliveries?.listForJob(id)) ?? [];
  }

  /** A job of the caller's; another user's job is answered exactly like a missing one. */
  async get(principal: Principal, id: string): Promise<JobRecord> {
    const job = await this.#find(id);
    if (job.userId !== principal.userId) throw jobNotFound();
    return job;
  }

  /**
   * What a queued job's view says of its wait, read live (never stored): `waitingFor`, its
   * `queuePosition` in its model's queue (1 is next) and `etaSeconds`. All nulls for any other
   * job, and each null on its own when it cannot be read (Redis away, nothing measured yet).
   */
  async queueStatus(job: Pick<JobRecord, 'id' | 'status' | 'modelName'>): Promise<QueueStatus> {
    return (await this.queueStatusMany([job]))[0]!;
  }

  /**
   * queueStatus for many jobs (a page): one pipelined read of the queue positions for all of them,
   * and the cached heartbeats; no Postgres read.
   */
  async queueStatusMany(jobs: ReadonlyArray<Pick<JobRecord, 'id' | 'status' | 'modelName'>>): Promise<QueueStatus[]> {
    const none: QueueStatus = { waitingFor: null, queuePosition: null, etaSeconds: null };
    const queued = jobs.filter((job) => job.status === 'queued');
    if (queued.length === 0) return jobs.map(() => none);
    const { servedModels, capacity, queue } = this.#options;
    const [served, models, positions] = await Promise.all([
      servedModels?.().catch(() => undefined),
      capacity?.().catch(() => undefined),
      queue.isReady() ? queue.positions(queued.map((job) => ({ jobId: job.id, model: job.modelName }))).catch(() => queued.map(() => null)) : queued.map(() => null),
    ]);
    const byId = new Map(queued.map((job, i) => [job.id, positions[i] ?? null]));
    return jobs.map((job) => {
      if (job.status !== 'queued') return none;
      const position = byId.get(job.id) ?? null;
      const unserved = served ? !served.has(job.modelName) : (models?.get(job.modelName)?.workers ?? 1) === 0;
      return { waitingFor: served && unserved ? 'worker' : null, queuePosition: position, etaSeconds: etaSeconds(position, models?.get(job.modelName), served ? unserved : undefined) };
    });
  }

  /** Thumbnails made, by job and side: a job's input never changes, so they never go stale. */
  readonly #thumbnails = new LRUCache<string, Buffer>({ maxSize: 32 * 1024 * 1024, sizeCalculation: (bytes) => Math.max(1, bytes.byteLength) });
  /** Thumbnails being made: requests for the same one share its decode. */
  readonly #thumbnailsMaking = new Map<string, Promise<Buffer>>();

  /**
   * A square WebP thumbnail of a job's input, `side` pixels wide. Its decode waits its turn in
   * the decode queue like a submit's validation, by the same cost (declared pixels weighed by
   * format), so one user asking for many thumbnails of an expensive image delays others by one
   * turn, never by all of them. Thumbnails made are kept (32 MiB, least recently used first) and
   * a request for one being made shares that decode.
   *
   * @throws AppError NOT_FOUND when the input is no longer stored; CONCURRENCY_LIMITED or
   *   SERVER_BUSY when the decode's turn does not come in time; INVALID_IMAGE when it fails
   */
  async thumbnail(principal: Principal, id: string, side: number): Promise<{ job: JobRecord; bytes: Buffer }> {
    const job = await this.get(principal, id);
    const key = `${job.id}:${side}`;
    const cached = this.#thumbnails.get(key);
    if (cached) return { job, bytes: cached };
    let making = this.#thumbnailsMaking.get(key);
    if (!making) {
      making = this.#makeThumbnail(principal, job, side).finally(() => this.#thumbnailsMaking.delete(key));
      this.#thumbnailsMaking.set(key, making);
    }
    return { job, bytes: await making };
  }

  async #makeThumbnail(principal: Principal, job: JobRecord, side: number): Promise<Buffer> {
    const stored = await this.#readInput(job.id);
    if (!stored) throw new AppError('NOT_FOUND', 'The input of this job is no longer stored.');
    const pixels = job.inputWidth * job.inputHeight;
    const cost = decodeCost({ pixels, format: job.inputFormat as ImageFormat });
    const { decodePixels } = this.#options;
    const lease = decodePixels ? await acquireTurn(decodePixels, 'decodePixels', principal.userId, cost, { weight: tierOf(principal.tier, this.#options.tiers).shareWeight }) : undefined;
    try {
      // Inputs are stored trimmed to the image; rows from before that are trimmed here.
      const bytes = await makeThumbnail(imageOnly(stored, job.inputFormat), side, { maxPixels: pixels });
      this.#thumbnails.set(`${job.id}:${side}`, bytes);
      return bytes;
    } catch (error) {
      throw new AppError('INVALID_IMAGE', 'A thumbnail of this image could not be made.', { details: { reason: 'thumbnail_failed' }, cause: error });
    } finally {
      lease?.release();
    }
  }

  /** The input image of a job of the caller's; null when it is no longer stored. */
  async input(principal: Principal, id: string): Promise<{ job: JobRecord; bytes: Buffer | null }> {
    const job = await this.get(principal, id);
    return { job, bytes: await this.#readInput(job.id) };
  }

  /** A job's input bytes, from Postgres or the blob store; null when they are gone. */
  async #readInput(id: string): Promise<Buffer | null> {
    const stored = await this.#options.queries.getInput(id);
    if (!stored) return null;
    if (stored.data) return stored.data;
    const blobs = this.#options.blobs;
    if (!blobs) throw storageUnavailable(new Error(`job ${id}'s input is in a blob store and none is configured`));
    try {
      return await blobs.get(stored.blobKey);
    } catch (error) {
      throw storageUnavailable(error);
    }
  }

  /** Any user's job. */
  /** Any user's job by id, for operators (the dashboard's search by job id). */
  async getAny(id: string): Promise<JobRecord> {
    return this.#find(id);
  }

  async #find(id: string): Promise<JobRecord> {
    if (!isUuid(id)) throw jobNotFound();
    const job = await this.#options.queries.get(id);
    if (!job) throw jobNotFound();
    return job;
  }
}

/** What a job's view says of its wait in the queue (see JobService.queueStatus). */
export interface QueueStatus {
  waitingFor: 'worker' | null;
  queuePosition: number | null;
  etaSeconds: number | null;
}

/**
 * Seconds until a job at `position` is expected to finish: its place over the model's measured
 * throughput (the jobs ahead of it and itself), plus the model's load time when no worker serves
 * it. null when the position or the throughput is not known, or no worker serves the model and
 * its load time was never measured. To a tenth of a second.
 */
export function etaSeconds(position: number | null, capacity: ModelCapacity | undefined, unserved = capacity ? capacity.workers === 0 : undefined): number | null {
  if (position === null || !capacity || capacity.throughput === null || capacity.throughput <= 0 || unserved === undefined) return null;
  if (unserved && capacity.loadMs === null) return null;
  const seconds = position / capacity.throughput + (unserved ? capacity.loadMs! / 1000 : 0);
  return Math.round(seconds * 10) / 10;
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return defaultPageSize;
  // Decimal digits only: Number() would also take `1e2`, `0x10`, ` 5` and `5.0`.
  const limit = /^[0-9]{1,3}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxPageSize) {
    throw new AppError('VALIDATION_FAILED', `limit must be an integer from 1 to ${maxPageSize}.`, { details: { field: 'limit' } });
  }
  return limit;
}

/** A comma-separated list of names (models, versions, codes): each as modelNamePattern allows. */
function parseNames(field: string, value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const names = value.split(',').map((name) => name.trim());
  if (names.length > 20 || names.some((name) => !modelNamePattern.test(name))) {
    throw new AppError('VALIDATION_FAILED', `${field} is a comma-separated list of up to 20 names.`, { details: { field } });
  }
  return names;
}

/** An ISO 8601 date-time with its offset (`2026-12-06T09:00:00Z`), as Postgres can hold it. */
function parseInstant(field: string, value: string | undefined): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const date = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new AppError('VALIDATION_FAILED', `${field} must be an ISO 8601 date-time, e.g. 2026-12-06T09:00:00Z.`, { details: { field } });
  }
  return date;
}

function parseFilter(input: JobFilterInput): JobFilter {
  const createdAfter = parseInstant('createdAfter', input.createdAfter);
  const createdBefore = parseInstant('createdBefore', input.createdBefore);
  return {
    statuses: parseStatuses(input.status),
    models: parseNames('model', input.model),
    versions: parseNames('version', input.version),
    errorCodes: parseNames('errorCode', input.errorCode),
    createdAfter,
    createdBefore,
    metadata: input.metadata,
  };
}

/** Free text shorter than a trigram cannot use the index, so it is refused rather than scanned. */
const minSearchLength = 3;
const maxSearchLength = 200;

/** The operators' filters, checked: the owners' plus a user id and free text. */
export function parseAdminFilter(input: AdminJobFilterInput): JobFilter {
  if (input.userId !== undefined && input.userId !== '' && !isUuid(input.userId)) {
    throw new AppError('VALIDATION_FAILED', 'userId must be a user id.', { details: { field: 'userId' } });
  }
  const q = input.q?.trim();
  if (q && (q.length < minSearchLength || q.length > maxSearchLength)) {
    throw new AppError('VALIDATION_FAILED', `q must be ${minSearchLength} to ${maxSearchLength} characters.`, { details: { field: 'q' } });
  }
  return { ...parseFilter(input), userId: input.userId || undefined, text: q || undefined };
}

function parseStatuses(value: string | undefined): JobStatus[] | undefined {
  if (value === undefined || value === '') return undefined;
  const statuses = value.split(',').map((status) => status.trim());
  for (const status of statuses) {
    if (!(jobStatuses as readonly string[]).includes(status)) {
      throw new AppError('VALIDATION_FAILED', `Unknown status "${status.slice(0, 32)}".`, { details: { field: 'status', allowed: jobStatuses } });
    }
  }
  return statuses as JobStatus[];
}

/** The cursor is the last job's (createdAt, id), base64url-encoded; clients treat it as opaque. */
function encodeCursor(job: JobRecord): string {
  return Buffer.from(JSON.stringify([job.createdAt.toISOString(), job.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const invalid = () => new AppError('VALIDATION_FAILED', 'The cursor is not valid.', { details: { field: 'cursor' } });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid();
  const [at, id] = parsed as unknown[];
  const createdAt = typeof at === 'string' ? new Date(at) : new Date(Number.NaN);
  if (Number.isNaN(createdAt.getTime()) || typeof id !== 'string' || !isUuid(id)) throw invalid();
  // A date JavaScript holds but Postgres does not (year 200000, 5000 BC) would fail in the query.
  if (createdAt.getUTCFullYear() < 1970 || createdAt.getUTCFullYear() > 9999) throw invalid();
  return { createdAt, id };
}

/** An image sent to a tensor model. */
function tensorModel(model: string): AppError {
  return new AppError('MODEL_KIND_MISMATCH', `Model ${model} takes tensors, not an image: send them to POST /v2/models/${model}/infer.`, { details: { model, takes: 'tensors' } });
}
