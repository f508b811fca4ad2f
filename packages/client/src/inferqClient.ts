import { toBlob, type ImageInput } from './imageBody.ts';
import { InferQError } from './inferqError.ts';
import type { components } from './generated/openapi.ts';
import {
  describeStatus,
  isFinal,
  type JobEvent,
  type Account,
  type AccountDeletion,
  type Batch,
  type BatchItem,
  type ErrorBody,
  type ErrorCode,
  type Job,
  type JobList,
  type JobStatus,
  type InferRequest,
  type InferResponse,
  type ModelList,
  type ModelMetadata,
  type Redelivery,
  type RetryJobsBody,
  type RetryJobsResult,
  type WebhookDeliveryList,
} from './types.ts';

/** Options of `infer` and `inferAsync` (`POST /v2/models/{name}/infer`). */
export interface InferOptions {
  /** A version of the model. @defaultValue the live one */
  version?: string;
  /** Sent as `Idempotency-Key`: the same request again answers the same job. */
  idempotencyKey?: string;
  /** `infer`: longest the whole call waits for the result (the server holds each request up to 60 s). @defaultValue 300000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface InferQClientOptions {
  /** Where the API answers, e.g. `https://inferq.example.com` or `http://localhost:3000`. */
  baseUrl: string;
  /** An API key, `iq_…`. */
  apiKey: string;
  /** The fetch to use (a proxy agent, a test double of the network). @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
  /** Retries of a 429 or 503 answer (nothing was stored, so retrying is safe). @defaultValue 3 */
  maxRetries?: number;
  /** Longest pause before a retry, whatever Retry-After asks. @defaultValue 30000 */
  maxRetryDelayMs?: number;
  /** Called before each pause of a retry (to say "rate limited, retrying in 12 s"). @defaultValue none */
  onRetry?: (retry: RetryInfo) => void;
}

/** A refused request about to be retried. */
export interface RetryInfo {
  /** 429 or 503. */
  status: number;
  /** The API's error code (`RATE_LIMITED`, `QUEUE_FULL`, `SERVER_BUSY`, …), when the answer had one. */
  code: ErrorCode | undefined;
  /** How long the client waits now: Retry-After, capped at maxRetryDelayMs. */
  delayMs: number;
  /** What Retry-After asked for, when it was there. */
  retryAfterMs: number | undefined;
  /** 1 for the first retry. */
  attempt: number;
  maxRetries: number;
}

export interface SubmitOptions {
  /** @defaultValue the server's default model */
  model?: string;
  /** @defaultValue the live version */
  version?: string;
  /** A retried submit with the same key returns the first job instead of creating another. */
  idempotencyKey?: string;
  /** https URL POSTed with the job once it is final (signed; see verifyWebhookSignature). */
  webhook?: string;
  /** Which events the webhook is sent: `started` (the job began running), `completed` (its final state). @defaultValue ['completed'] */
  webhookEvents?: Array<'started' | 'completed'>;
  /**
   * Your own labels, returned on the job and its webhooks and filterable in `list`: at most 20
   * keys (40 characters each) with string values (500 characters each). @defaultValue none
   */
  metadata?: Record<string, string>;
  /** File name sent with the image. @defaultValue "image" (or the File's name) */
  filename?: string;
  /**
   * Seconds the job may wait to start (1 to 604800); not started by then, it ends `expired` (never
   * run, not counted against your quota). @defaultValue none: it waits for ever
   */
  ttlSeconds?: number;
  /**
   * Execution deadline of each attempt, sent as `Cancel-After`: seconds (a number) or a duration
   * (`'90s'`, `'5m'`, `'1h30m'`). An attempt running longer fails with DEADLINE_EXCEEDED.
   * @defaultValue none: only the model's time limit
   */
  cancelAfter?: number | string;
  /** Let the server hold the answer up to this long (max 60) for the result. @defaultValue 0 */
  waitSeconds?: number;
  signal?: AbortSignal;
}

/** What POST /v1/uploads answers: where to PUT the bytes, and the id to submit them by. */
export type Upload = Schemas['Upload'];

export interface SubmitManyOptions extends Omit<SubmitOptions, 'filename'> {
  /** File names sent with the images, by position. @defaultValue "image-<i>" (or each File's name) */
  filenames?: string[];
  /**
   * Images per request (`POST /v1/jobs/batch`); more are sent in further requests, one after
   * another. At most your tier's `maxBatchImages` (see `account()`). @defaultValue 16
   */
  batchSize?: number;
}

export interface WaitOptions {
  /**
   * Give up after this long: InferQError WAIT_TIMEOUT, whose `job` is the job as last read (it
   * was submitted and stays queued or running). @defaultValue 300000
   */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each answer that is not final yet (say, to show `queued · waiting for a worker`). @defaultValue none */
  onUpdate?: (job: Job) => void;
}

/** One job event of an event stream: the job changed status. `id` orders it (and resumes after it). */
export interface JobEventMessage {
  id: string | undefined;
  event: JobEvent;
}

export interface EventStreamOptions {
  /** Resume after this event id (one a stream gave before). @defaultValue now: only new events */
  lastEventId?: string;
  /** Stops the stream (the iteration then ends). */
  signal?: AbortSignal;
  /** Longest pause before reconnecting after a dropped connection. @defaultValue 5000 */
  maxReconnectDelayMs?: number;
  /**
   * Called when the server could not replay everything since `lastEventId` (the client was away
   * longer than its retention window): re-read the jobs you show. @defaultValue none
   */
  onReset?: () => void;
}

export interface ListOptions {
  status?: JobStatus | JobStatus[];
  /** Model names, any of. @defaultValue all */
  model?: string | string[];
  /** Versions (the one that ran the job), any of. @defaultValue all */
  version?: string | string[];
  /** Failure codes, any of. @defaultValue all */
  errorCode?: string | string[];
  /** Jobs submitted at or after. @defaultValue no bound */
  createdAfter?: Date | string;
  /** Jobs submitted before. @defaultValue no bound */
  createdBefore?: Date | string;
  /** Jobs whose metadata has every key given with exactly that value. @defaultValue no filter */
  metadata?: Record<string, string>;
  cursor?: string;
  /** 1 to 100. @defaultValue 20 */
  limit?: number;
  signal?: AbortSignal;
}

interface RequestOptions {
  method?: string;
  body?: FormData | string;
  headers?: Record<string, string>;
  query?: Record<string, string | undefined>;
  signal?: AbortSignal | undefined;
}

const maxServerWaitSeconds = 60;
type Schemas = components['schemas'];

/** A job that was submitted and is not final in time: said as such, with the job (and so its id). */
function waitTimeout(job: Job, timeoutMs: number): InferQError {
  const message = `Job ${job.id} was submitted and is still ${describeStatus(job)} after ${timeoutMs} ms; it stays ${job.status}.`;
  return new InferQError({ code: 'WAIT_TIMEOUT', status: 0, message, details: { job }, job });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Retry-After in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * A typed client of the InferQ API. Works wherever `fetch`, `FormData` and `Blob` exist (Node 20+,
 * browsers, Deno, Bun). Failed calls throw InferQError with the API's error code.
 */
export class InferQClient {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #maxRetries: number;
  readonly #maxRetryDelayMs: number;
  readonly #onRetry: ((retry: RetryInfo) => void) | undefined;

  constructor(options: InferQClientOptions) {
    if (!options.baseUrl) throw new TypeError('baseUrl is required');
    if (!options.apiKey) throw new TypeError('apiKey is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#maxRetries = options.maxRetries ?? 3;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.#onRetry = options.onRetry;
  }

  /**
   * Runs a tensor model through the Open Inference Protocol and resolves with its outputs: the
   * request waits for the job on the server (up to a minute at a time) and, should that run out,
   * the client waits for the job by id. Typed arrays may be given as `data`. A failed job throws
   * its code (INFERENCE_FAILED, TIMEOUT, …); a bad tensor throws INVALID_TENSOR.
   */
  async infer(model: string, request: InferRequest, options: InferOptions = {}): Promise<InferResponse> {
    const started = Date.now();
    const answer = await this.#infer(model, request, options, { Prefer: `wait=${maxServerWaitSeconds}` });
    if ('model_name' in answer) return answer;
    const remaining = Math.max(1000, (options.timeoutMs ?? 300_000) - (Date.now() - started));
    const job = await this.wait(answer.id, { timeoutMs: remaining, signal: options.signal });
    if (job.status !== 'succeeded' || !job.result?.outputs) {
      throw new InferQError({
        code: (job.error?.code ?? 'INTERNAL') as ErrorCode,
        status: 0,
        message: job.error?.message ?? `The job ended ${job.status}.`,
        job,
      });
    }
    return {
      model_name: job.model.name,
      model_version: job.model.version ?? '',
      ...(request.id !== undefined ? { id: request.id } : {}),
      outputs: job.result.outputs,
    };
  }

  /**
   * Submits a tensor inference as a job and resolves at once with it (`Prefer: respond-async`):
   * `wait(job.id)` later, or a webhook (`parameters.webhook`), gives `result.outputs` and `result.reading`.
   */
  async inferAsync(model: string, request: InferRequest, options: InferOptions = {}): Promise<Job> {
    const answer = await this.#infer(model, request, options, { Prefer: 'respond-async' });
    if ('model_name' in answer)
      throw new InferQError({
        code: 'INVALID_RESPONSE',
        status: 200,
        message: 'The server answered the inference instead of its job.',
      });
    return answer;
  }

  /** A model's inputs and outputs as the protocol describes them (`GET /v2/models/{name}[/versions/{v}]`). */
  async modelMetadata(model: string, options: { version?: string; signal?: AbortSignal } = {}): Promise<ModelMetadata> {
    return this.#request<ModelMetadata>(protocolPath(model, options.version, ''), { signal: options.signal });
  }

  async #infer(
    model: string,
    request: InferRequest,
    options: InferOptions,
    headers: Record<string, string>,
  ): Promise<InferResponse | Job> {
    const body = JSON.stringify(request, (_key, value: unknown) =>
      ArrayBuffer.isView(value) && !(value instanceof DataView)
        ? Array.from(value as unknown as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v))
        : value,
    );
    return this.#request<InferResponse | Job>(protocolPath(model, options.version, '/infer'), {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        ...headers,
        ...(options.idempotencyKey ? { 'Idempotency-Key': options.idempotencyKey } : {}),
      },
      signal: options.signal,
    });
  }

  /** Submits an image. Resolves with the queued job, or the finished one when `waitSeconds` sufficed. */
  async submit(image: ImageInput, options: SubmitOptions = {}): Promise<Job> {
    const blob = await toBlob(image);
    const headers: Record<string, string> = {};
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    if (options.waitSeconds)
      headers.Prefer = `wait=${Math.min(Math.max(0, Math.round(options.waitSeconds)), maxServerWaitSeconds)}`;
    if (options.cancelAfter !== undefined) headers['Cancel-After'] = String(options.cancelAfter);
    const filename = options.filename ?? (typeof File !== 'undefined' && blob instanceof File ? blob.name : 'image');
    // Built per try: a FormData body is consumed by the request that sends it.
    const form = () => {
      const body = new FormData();
      if (options.model) body.set('model', options.model);
      if (options.version) body.set('version', options.version);
      if (options.webhook) body.set('webhook', options.webhook);
      if (options.webhookEvents?.length) body.set('webhookEvents', options.webhookEvents.join(','));
      if (options.ttlSeconds !== undefined) body.set('ttlSeconds', String(options.ttlSeconds));
      if (options.metadata && Object.keys(options.metadata).length > 0)
        body.set('metadata', JSON.stringify(options.metadata));
      body.set('image', blob, filename);
      return body;
    };
    return this.#request<Job>('/v1/jobs', { method: 'POST', body: form(), headers, signal: options.signal }, form);
  }

  /**
   * Submits an image by its URL: the server fetches it (https to public addresses, or hosts its
   * operator allows) before it answers. A URL it refuses throws INVALID_INPUT_URL; one it cannot
   * fetch, INPUT_FETCH_FAILED.
   */
  async submitByUrl(imageUrl: string, options: Omit<SubmitOptions, 'filename'> = {}): Promise<Job> {
    return this.#submitJson({ imageUrl }, options);
  }

  /**
   * Submits an image through an upload: asks for one (`POST /v1/uploads`), PUTs the bytes where
   * it says (straight to the bucket when the server has one), then submits `{ uploadId }`.
   */
  async submitUpload(
    image: ImageInput,
    options: Omit<SubmitOptions, 'filename'> & { contentType?: string } = {},
  ): Promise<Job> {
    const upload = await this.createUpload(image, options);
    return this.#submitJson({ uploadId: upload.uploadId }, options);
  }

  /** Makes an upload and PUTs the bytes; resolves with its id (submit it with `{ uploadId }` before `expiresAt`). */
  async createUpload(image: ImageInput, options: { contentType?: string; signal?: AbortSignal } = {}): Promise<Upload> {
    const blob = await toBlob(image);
    const contentType = options.contentType ?? (blob.type || 'application/octet-stream');
    const upload = await this.#request<Upload>('/v1/uploads', {
      method: 'POST',
      body: JSON.stringify({ contentType, size: blob.size }),
      headers: { 'content-type': 'application/json' },
      signal: options.signal,
    });
    // To the API itself the PUT carries the key; to a bucket only the headers the URL was signed with.
    const own = upload.url.startsWith(`${this.baseUrl}/`);
    const headers: Record<string, string> = {
      ...(upload.headers ?? {}),
      ...(own ? { authorization: `Bearer ${this.#apiKey}` } : {}),
    };
    delete headers['content-length']; // set by fetch from the body, to the same value
    let response: Response;
    try {
      response = await this.#fetch(upload.url, { method: 'PUT', headers, body: blob, signal: options.signal });
    } catch (error) {
      throw new InferQError({
        code: 'NETWORK_ERROR',
        status: 0,
        message: `The upload could not be sent: ${(error as Error).message}`,
        cause: error,
      });
    }
    if (!response.ok) {
      if (own) throw await errorFrom(response);
      throw new InferQError({
        code: 'INVALID_RESPONSE',
        status: response.status,
        message: `The storage refused the upload (HTTP ${response.status}).`,
      });
    }
    await response.body?.cancel();
    return upload;
  }

  async #submitJson(
    reference: { imageUrl: string } | { uploadId: string },
    options: Omit<SubmitOptions, 'filename'>,
  ): Promise<Job> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    if (options.waitSeconds)
      headers.Prefer = `wait=${Math.min(Math.max(0, Math.round(options.waitSeconds)), maxServerWaitSeconds)}`;
    const body = JSON.stringify({
      ...reference,
      ...(options.model ? { model: options.model } : {}),
      ...(options.version ? { version: options.version } : {}),
      ...(options.webhook ? { webhook: options.webhook } : {}),
      ...(options.webhookEvents?.length ? { webhookEvents: options.webhookEvents.join(',') } : {}),
      ...(options.ttlSeconds ? { ttlSeconds: options.ttlSeconds } : {}),
    });
    return this.#request<Job>('/v1/jobs', { method: 'POST', body, headers, signal: options.signal });
  }

  /**
   * Submits many images with `POST /v1/jobs/batch`, `batchSize` per request. Resolves with a job
   * or an error per image, in order (`data[i].index === i`): one bad image fails only itself.
   * With `idempotencyKey: K`, request r is sent with the key `K.r`, so a retried call answers the
   * same jobs. With `waitSeconds` the server holds each request until all its jobs are final.
   */
  async submitMany(images: readonly ImageInput[], options: SubmitManyOptions = {}): Promise<Batch> {
    const batchSize = options.batchSize ?? 16;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new TypeError('batchSize must be a whole number >= 1');
    const blobs = await Promise.all(images.map((image) => toBlob(image)));
    const data: BatchItem[] = [];
    for (let start = 0; start < blobs.length; start += batchSize) {
      const chunk = blobs.slice(start, start + batchSize);
      const headers: Record<string, string> = {};
      if (options.idempotencyKey) headers['Idempotency-Key'] = `${options.idempotencyKey}.${start / batchSize}`;
      if (options.waitSeconds)
        headers.Prefer = `wait=${Math.min(Math.max(0, Math.round(options.waitSeconds)), maxServerWaitSeconds)}`;
      if (options.cancelAfter !== undefined) headers['Cancel-After'] = String(options.cancelAfter);
      const form = () => {
        const body = new FormData();
        if (options.model) body.set('model', options.model);
        if (options.version) body.set('version', options.version);
        if (options.webhook) body.set('webhook', options.webhook);
        if (options.ttlSeconds !== undefined) body.set('ttlSeconds', String(options.ttlSeconds));
        if (options.metadata && Object.keys(options.metadata).length > 0)
          body.set('metadata', JSON.stringify(options.metadata));
        chunk.forEach((blob, i) => {
          const name =
            options.filenames?.[start + i] ??
            (typeof File !== 'undefined' && blob instanceof File ? blob.name : `image-${start + i}`);
          body.append('image', blob, name);
        });
        return body;
      };
      const answer = await this.#request<Batch>(
        '/v1/jobs/batch',
        { method: 'POST', body: form(), headers, signal: options.signal },
        form,
      );
      for (const item of answer.data) data.push({ ...item, index: start + item.index });
    }
    return { data, accepted: data.filter((item) => item.job).length, refused: data.filter((item) => !item.job).length };
  }

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return this.#request<Job>(`/v1/jobs/${encodeURIComponent(id)}`, { signal: options.signal });
  }

  /**
   * Resolves once the job is final (succeeded, failed, canceled or expired: check `status`). The server
   * holds each request up to 60 s (`?wait=`), so this is a few requests, not a polling loop.
   */
  async wait(id: string, options: WaitOptions = {}): Promise<Job> {
    const deadline = Date.now() + (options.timeoutMs ?? 300_000);
    for (;;) {
      const remaining = deadline - Date.now();
      const seconds = Math.max(0, Math.min(maxServerWaitSeconds, Math.floor(remaining / 1000)));
      const job = await this.#request<Job>(`/v1/jobs/${encodeURIComponent(id)}`, {
        query: { wait: String(seconds) },
        signal: options.signal,
      });
      if (isFinal(job)) return job;
      if (Date.now() >= deadline || seconds === 0) throw waitTimeout(job, options.timeoutMs ?? 300_000);
      options.onUpdate?.(job);
    }
  }

  /** Submits and waits: resolves with the final job. */
  async run(image: ImageInput, options: SubmitOptions & WaitOptions = {}): Promise<Job> {
    const started = Date.now();
    const timeoutMs = options.timeoutMs ?? 300_000;
    const job = await this.submit(image, {
      ...options,
      waitSeconds: options.waitSeconds ?? Math.min(maxServerWaitSeconds, Math.floor(timeoutMs / 1000)),
    });
    if (isFinal(job)) return job;
    const remaining = timeoutMs - (Date.now() - started);
    if (remaining <= 0) throw waitTimeout(job, timeoutMs);
    options.onUpdate?.(job);
    return this.wait(job.id, {
      timeoutMs: remaining,
      signal: options.signal,
      ...(options.onUpdate ? { onUpdate: options.onUpdate } : {}),
    });
  }

  /** One page of your jobs, newest first; pass `nextCursor` back as `cursor` for the next. */
  async list(options: ListOptions = {}): Promise<JobList> {
    const list = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(',') : value);
    const instant = (value: Date | string | undefined) => (value instanceof Date ? value.toISOString() : value);
    const metadata = Object.fromEntries(
      Object.entries(options.metadata ?? {}).map(([key, value]) => [`metadata[${key}]`, value]),
    );
    return this.#request<JobList>('/v1/jobs', {
      query: {
        status: list(options.status),
        model: list(options.model),
        version: list(options.version),
        errorCode: list(options.errorCode),
        createdAfter: instant(options.createdAfter),
        createdBefore: instant(options.createdBefore),
        ...metadata,
        cursor: options.cursor,
        limit: options.limit === undefined ? undefined : String(options.limit),
      },
      signal: options.signal,
    });
  }

  /** Every job, page after page. */
  async *listAll(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<Job> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...options, cursor });
      yield* page.data;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /**
   * Administrators: retries the failed jobs of a selection. With `dryRun` it counts them and
   * answers the `asOf` to send back; the same body with that `asOf` retries them, never one twice.
   */
  async retryJobs(body: RetryJobsBody, options: { signal?: AbortSignal } = {}): Promise<RetryJobsResult> {
    return this.#request<RetryJobsResult>('/v1/admin/jobs/retry', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
      signal: options.signal,
    });
  }

  /** Administrators: delivers a final job's webhook again (once per `idempotencyKey`). */
  async redeliver(id: string, options: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<Redelivery> {
    return this.#request<Redelivery>(`/v1/admin/jobs/${encodeURIComponent(id)}/redeliver`, {
      method: 'POST',
      headers: options.idempotencyKey ? { 'Idempotency-Key': options.idempotencyKey } : {},
      signal: options.signal,
    });
  }

  /** Administrators: delivers again every webhook that failed in `[from, to)` and never succeeded (`dryRun`: count only). */
  async redeliverFailed(
    range: { from: Date | string; to: Date | string; dryRun?: boolean },
    options: { signal?: AbortSignal } = {},
  ): Promise<Redelivery> {
    const instant = (value: Date | string) => (value instanceof Date ? value.toISOString() : value);
    const body = JSON.stringify({
      from: instant(range.from),
      to: instant(range.to),
      ...(range.dryRun ? { dryRun: true } : {}),
    });
    return this.#request<Redelivery>('/v1/admin/webhooks/redeliver', {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json' },
      signal: options.signal,
    });
  }

  async cancel(id: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return this.#request<Job>(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST', signal: options.signal });
  }

  /**
   * Deletes a job with its input image, result and webhook deliveries, whatever its status (a
   * queued or running job is canceled on the way). Afterwards the job is JOB_NOT_FOUND.
   */
  async deleteJob(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#request<undefined>(`/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE', signal: options.signal });
  }

  /** The models the server serves (GET /v1/models). */
  async models(options: { signal?: AbortSignal } = {}): Promise<ModelList> {
    return this.#request<ModelList>('/v1/models', { signal: options.signal });
  }

  /** Webhook delivery attempts of a job, oldest first. */
  async deliveries(id: string, options: { signal?: AbortSignal } = {}): Promise<WebhookDeliveryList> {
    return this.#request<WebhookDeliveryList>(`/v1/jobs/${encodeURIComponent(id)}/deliveries`, {
      signal: options.signal,
    });
  }

  /** Who the key belongs to, its tier's limits and how much of them is used now (GET /v1/account). */
  async account(options: { signal?: AbortSignal } = {}): Promise<Account> {
    return this.#request<Account>('/v1/account', { signal: options.signal });
  }

  /**
   * Deletes the key's account for good: every job with its data, every key, the user. `confirm`
   * must be the account's email (see `account()`), else CONFIRMATION_REQUIRED and nothing changes.
   * This client's key stops working.
   */
  async deleteAccount(confirm: string, options: { signal?: AbortSignal } = {}): Promise<AccountDeletion> {
    return this.#request<AccountDeletion>('/v1/account', {
      method: 'DELETE',
      body: JSON.stringify({ confirm }),
      headers: { 'content-type': 'application/json' },
      signal: options.signal,
    });
  }

  async webhookSecret(): Promise<string> {
    return (await this.#request<{ secret: string }>('/v1/account/webhook-secret', {})).secret;
  }

  async rotateWebhookSecret(): Promise<string> {
    return (await this.#request<{ secret: string }>('/v1/account/webhook-secret', { method: 'POST' })).secret;
  }

  /**
   * Your job events as they happen (`GET /v1/events`; every job's for an admin), as an async
   * iterable. A dropped connection is opened again with `Last-Event-ID`, so no event within the
   * server's retention window is missed; it ends only when `signal` aborts.
   */
  events(options: EventStreamOptions = {}): AsyncGenerator<JobEventMessage> {
    return this.#eventStream('/v1/events', options);
  }

  /**
   * One job's events (`GET /v1/jobs/:id/events`), resuming after drops as `events` does; the
   * iteration ends once the job is final (after its final event).
   */
  jobEvents(id: string, options: EventStreamOptions = {}): AsyncGenerator<JobEventMessage> {
    return this.#eventStream(`/v1/jobs/${encodeURIComponent(id)}/events`, options);
  }

  async *#eventStream(path: string, options: EventStreamOptions): AsyncGenerator<JobEventMessage> {
    let lastEventId = options.lastEventId;
    let retryMs = 1000;
    const maxDelay = options.maxReconnectDelayMs ?? 5000;
    for (let failures = 0; !options.signal?.aborted;) {
      let response: Response;
      try {
        response = await this.#fetch(`${this.baseUrl}${path}`, {
          headers: {
            authorization: `Bearer ${this.#apiKey}`,
            accept: 'text/event-stream',
            ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}),
          },
          signal: options.signal,
        });
      } catch (error) {
        if (options.signal?.aborted) return;
        if (++failures > 1000) throw error;
        await sleep(Math.min(retryMs * failures, maxDelay), options.signal).catch(() => {});
        continue;
      }
      if (!response.ok) {
        // 429/503: over a share or too many streams; try again later. Anything else is final.
        if (response.status !== 429 && response.status !== 503) throw await errorFrom(response);
        await response.body?.cancel();
        await sleep(
          Math.min(retryAfterMs(response.headers.get('retry-after')) ?? retryMs, maxDelay),
          options.signal,
        ).catch(() => {});
        continue;
      }
      try {
        for await (const message of serverSentEvents(response, options.signal)) {
          failures = 0;
          if (message.retry !== undefined) retryMs = message.retry;
          if (message.event === 'reset') options.onReset?.();
          else if (message.event === 'end') return;
          else if (message.event === 'job') {
            if (message.id) lastEventId = message.id;
            yield { id: message.id, event: JSON.parse(message.data) as JobEvent };
          }
        }
      } catch (error) {
        if (options.signal?.aborted) return;
        void error; // the connection dropped mid-stream: reconnected below, after Last-Event-ID
      }
      if (options.signal?.aborted) return;
      await sleep(Math.min(retryMs, maxDelay), options.signal).catch(() => {});
    }
  }

  async #request<T>(path: string, options: RequestOptions, rebuildBody?: () => FormData): Promise<T> {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {}))
      if (value !== undefined) url.searchParams.set(name, value);
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await this.#fetch(url, {
          method: options.method ?? 'GET',
          headers: { authorization: `Bearer ${this.#apiKey}`, accept: 'application/json', ...options.headers },
          body: attempt === 0 || !rebuildBody ? options.body : rebuildBody(),
          signal: options.signal,
        });
      } catch (error) {
        if (options.signal?.aborted) throw error;
        throw new InferQError({
          code: 'NETWORK_ERROR',
          status: 0,
          message: `No answer from ${this.baseUrl}: ${(error as Error).message}`,
          cause: error,
        });
      }
      if (response.status === 204) return undefined as T;
      if (response.ok) {
        try {
          return (await response.json()) as T;
        } catch (error) {
          throw new InferQError({
            code: 'INVALID_RESPONSE',
            status: response.status,
            message: 'The answer is not JSON.',
            cause: error,
          });
        }
      }
      const retryable = response.status === 429 || response.status === 503;
      if (retryable && attempt < this.#maxRetries) {
        // The code says why (rate limit, full queue, busy server); read only when someone listens.
        let code: ErrorCode | undefined;
        if (this.#onRetry)
          code = ((await response.json().catch(() => undefined)) as ErrorBody | undefined)?.error?.code;
        else await response.body?.cancel();
        const asked = retryAfterMs(response.headers.get('retry-after'));
        const delayMs = Math.min(asked ?? 500 * 2 ** attempt, this.#maxRetryDelayMs);
        this.#onRetry?.({
          status: response.status,
          code,
          delayMs,
          retryAfterMs: asked,
          attempt: attempt + 1,
          maxRetries: this.#maxRetries,
        });
        await sleep(delayMs, options.signal);
        continue;
      }
      throw await errorFrom(response);
    }
  }
}

/** One server-sent event as the stream framed it. */
interface ServerSentEvent {
  event: string;
  data: string;
  id: string | undefined;
  retry: number | undefined;
}

/** Parses a text/event-stream body (the WHATWG framing: fields, blank line ends an event, `:` comments). */
async function* serverSentEvents(response: Response, signal: AbortSignal | undefined): AsyncGenerator<ServerSentEvent> {
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = () => void reader.cancel().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  let buffer = '';
  let event: ServerSentEvent = { event: 'message', data: '', id: undefined, retry: undefined };
  let hasData = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (hasData || event.retry !== undefined) yield event;
          event = { event: 'message', data: '', id: undefined, retry: undefined };
          hasData = false;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event.event = text;
        else if (field === 'data') {
          event.data = hasData ? `${event.data}\n${text}` : text;
          hasData = true;
        } else if (field === 'id') event.id = text;
        else if (field === 'retry' && /^\d+$/.test(text)) event.retry = Number(text);
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
}

async function errorFrom(response: Response): Promise<InferQError> {
  const requestId = response.headers.get('x-request-id') ?? undefined;
  let body: ErrorBody | undefined;
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    body = undefined;
  }
  // The /v2 routes answer the protocol's shape: `{ "error": "…", "code": "…" }`.
  const flat = body as unknown as { error?: unknown; code?: string; details?: unknown } | undefined;
  if (typeof flat?.error === 'string' && flat.code) {
    return new InferQError({
      code: flat.code as ErrorCode,
      status: response.status,
      message: flat.error,
      details: flat.details,
      requestId,
    });
  }
  const error = body?.error;
  if (!error?.code) {
    return new InferQError({
      code: 'INVALID_RESPONSE',
      status: response.status,
      message: `HTTP ${response.status} without an error body.`,
      requestId,
    });
  }
  return new InferQError({
    code: error.code as ErrorCode,
    status: response.status,
    message: error.message,
    details: error.details,
    requestId,
  });
}

function protocolPath(model: string, version: string | undefined, suffix: string): string {
  return `/v2/models/${encodeURIComponent(model)}${version ? `/versions/${encodeURIComponent(version)}` : ''}${suffix}`;
}
