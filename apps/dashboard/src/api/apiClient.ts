import type {
  AccountView,
  AdmissionView,
  AdminJobView,
  CleanJobsBody,
  CleanJobsView,
  JobListView,
  JobStatus,
  JobView,
  ModelComparison,
  ModelRollbackView,
  ModelsView,
  QueueControlView,
  QueueSnapshot,
  RetryFailedBody,
  RetryJobsBody,
  RetryJobsView,
  HistoryRange,
  HistoryView,
  RedeliveryView as Redelivery,
  RetryFailedView,
  StatsSeries,
  TrafficView,
  UserView,
} from '@inferq/core';

/** An error answer of the API, or a network failure (`status` 0, code `NETWORK`). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** From `Retry-After` when the API sent it. */
  readonly retryAfterSeconds: number | null;

  constructor(status: number, code: string, message: string, options: { details?: unknown; retryAfterSeconds?: number | null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }
}

export type JobPage = JobListView;

export interface AdminJobPage {
  data: AdminJobView[];
  nextCursor: string | null;
}

export interface ListJobsQuery {
  status?: JobStatus | undefined;
  /** Only this user's jobs (the administrators' listing). */
  userId?: string | undefined;
  /** Free text in the id, the file name or a metadata value (the administrators' listing). */
  q?: string | undefined;
  model?: string | undefined;
  errorCode?: string | undefined;
  createdAfter?: string | undefined;
  /** `metadata[KEY]=VALUE` filters. */
  metadata?: Record<string, string> | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
}

export interface ApiClientOptions {
  /** The API key; sent only in the Authorization header, never in a URL. */
  apiKey: string;
  /** Where the API is; the dashboard is served by it, so the page's own origin. @defaultValue '' */
  baseUrl?: string;
  /** Called on any 401: the key was revoked or never valid. */
  onUnauthorized?: () => void;
  /** @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
  /** Makes the request of an upload with progress (fetch cannot report upload progress). @defaultValue new XMLHttpRequest() */
  xhr?: () => XMLHttpRequest;
}

/** Bytes of an upload sent so far, of the whole request body. */
export interface UploadProgress {
  loaded: number;
  total: number;
}

export interface SubmitOptions {
  model?: string | undefined;
  fileName?: string | undefined;
  /** Called as the body goes out; without it the upload uses fetch. */
  onProgress?: ((progress: UploadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** Seconds of a `Retry-After` header (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

async function errorOf(response: Response): Promise<ApiError> {
  const retryAfterSeconds = parseRetryAfter(response.headers.get('Retry-After'));
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (error && typeof error.code === 'string') {
    return new ApiError(response.status, error.code, typeof error.message === 'string' ? error.message : '', { details: error.details, retryAfterSeconds });
  }
  return new ApiError(response.status, response.status >= 500 ? 'INTERNAL' : 'BAD_REQUEST', `The API answered ${response.status}.`, { retryAfterSeconds });
}

function searchOf(query: ListJobsQuery): string {
  const params = new URLSearchParams();
  if (query.status) params.set('status', query.status);
  if (query.userId) params.set('userId', query.userId);
  if (query.q) params.set('q', query.q);
  if (query.model) params.set('model', query.model);
  if (query.errorCode) params.set('errorCode', query.errorCode);
  if (query.createdAfter) params.set('createdAfter', query.createdAfter);
  for (const [key, value] of Object.entries(query.metadata ?? {})) params.set(`metadata[${key}]`, value);
  if (query.cursor) params.set('cursor', query.cursor);
  if (query.limit) params.set('limit', String(query.limit));
  const search = params.toString();
  return search ? `?${search}` : '';
}

/** The dashboard's calls to the API: the same /v1 routes clients use, plus the operators' routes. */
export class ApiClient {
  readonly #options: ApiClientOptions;

  constructor(options: ApiClientOptions) {
    this.#options = options;
  }

  get apiKey(): string {
    return this.#options.apiKey;
  }

  async #send(method: string, path: string, init: { body?: BodyInit; signal?: AbortSignal | undefined; headers?: Record<string, string> } = {}): Promise<Response> {
    const doFetch = this.#options.fetch ?? globalThis.fetch.bind(globalThis);
    let response: Response;
    try {
      response = await doFetch(`${this.#options.baseUrl ?? ''}${path}`, {
        method,
        headers: { Authorization: `Bearer ${this.#options.apiKey}`, Accept: 'application/json', ...init.headers },
        body: init.body ?? null,
        signal: init.signal ?? null,
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(0, 'NETWORK', 'The API cannot be reached.');
    }
    if (!response.ok) {
      const error = await errorOf(response);
      if (response.status === 401) this.#options.onUnauthorized?.();
      throw error;
    }
    return response;
  }

  async #json<T>(method: string, path: string, init: { body?: BodyInit; signal?: AbortSignal | undefined; headers?: Record<string, string> } = {}): Promise<T> {
    const response = await this.#send(method, path, init);
    return (await response.json()) as T;
  }

  #post<T>(path: string, body: unknown): Promise<T> {
    return this.#json('POST', path, { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  }

  /** The same request as #send, over XMLHttpRequest for its upload progress events. */
  #sendWithProgress(method: string, path: string, body: FormData, onProgress: (progress: UploadProgress) => void, signal?: AbortSignal): Promise<Response> {
    const xhr = this.#options.xhr?.() ?? new XMLHttpRequest();
    return new Promise<Response>((resolve, reject) => {
      xhr.open(method, `${this.#options.baseUrl ?? ''}${path}`);
      xhr.setRequestHeader('Authorization', `Bearer ${this.#options.apiKey}`);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.withCredentials = false;
      xhr.responseType = 'text';
      xhr.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) onProgress({ loaded: event.loaded, total: event.total });
      });
      xhr.addEventListener('load', () => {
        const headers = new Headers();
        for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
          const at = line.indexOf(':');
          if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
        }
        resolve(new Response(xhr.status === 204 || xhr.status === 304 ? null : xhr.responseText, { status: xhr.status, headers }));
      });
      xhr.addEventListener('error', () => reject(new ApiError(0, 'NETWORK', 'The API cannot be reached.')));
      xhr.addEventListener('abort', () => reject(new DOMException('The upload was aborted.', 'AbortError')));
      signal?.addEventListener('abort', () => xhr.abort());
      xhr.send(body);
    }).then(async (response) => {
      if (response.ok) return response;
      const error = await errorOf(response);
      if (response.status === 401) this.#options.onUnauthorized?.();
      throw error;
    });
  }

  account(signal?: AbortSignal): Promise<AccountView> {
    return this.#json('GET', '/v1/account', { signal });
  }

  listJobs(query: ListJobsQuery = {}, signal?: AbortSignal): Promise<JobPage> {
    return this.#json('GET', `/v1/jobs${searchOf(query)}`, { signal });
  }

  getJob(id: string, signal?: AbortSignal): Promise<JobView> {
    return this.#json('GET', `/v1/jobs/${encodeURIComponent(id)}`, { signal });
  }

  async submitJob(image: Blob, options: SubmitOptions = {}): Promise<JobView> {
    const form = new FormData();
    if (options.model) form.set('model', options.model);
    form.set('image', image, options.fileName ?? 'image');
    if (!options.onProgress) return this.#json('POST', '/v1/jobs', { body: form, signal: options.signal });
    const response = await this.#sendWithProgress('POST', '/v1/jobs', form, options.onProgress, options.signal);
    return (await response.json()) as JobView;
  }

  cancelJob(id: string): Promise<JobView> {
    return this.#json('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
  }

  /**
   * The job's input image, or with `size` a square WebP thumbnail that many pixels wide; shown
   * through an object URL, since an <img> cannot send the key.
   */
  async jobImage(id: string, signal?: AbortSignal, size?: number): Promise<Blob> {
    const query = size ? `?size=${size}` : '';
    const response = await this.#send('GET', `/v1/jobs/${encodeURIComponent(id)}/image${query}`, { signal, headers: { Accept: 'image/*' } });
    return response.blob();
  }

  overview(signal?: AbortSignal): Promise<QueueSnapshot> {
    return this.#json('GET', '/v1/admin/overview', { signal });
  }

  /** The fair queues of the API process that answers, per user. */
  admission(signal?: AbortSignal): Promise<AdmissionView> {
    return this.#json('GET', '/v1/admin/admission', { signal });
  }

  stats(window: { windowSeconds: number; bucketSeconds: number }, signal?: AbortSignal): Promise<StatsSeries> {
    return this.#json('GET', `/v1/admin/stats?window=${window.windowSeconds}&bucket=${window.bucketSeconds}`, { signal });
  }

  /** Every user's jobs, newest first (administrators). */
  adminJobs(query: ListJobsQuery = {}, signal?: AbortSignal): Promise<AdminJobPage> {
    return this.#json('GET', `/v1/admin/jobs${searchOf(query)}`, { signal });
  }

  /** Any user's job by id (administrators). */
  adminJob(id: string, signal?: AbortSignal): Promise<AdminJobView> {
    return this.#json('GET', `/v1/admin/jobs/${encodeURIComponent(id)}`, { signal });
  }

  /** Every user (administrators), for the owner filter. */
  async users(signal?: AbortSignal): Promise<UserView[]> {
    return (await this.#json<{ data: UserView[] }>('GET', '/v1/admin/users', { signal })).data;
  }

  /** Disables a user (every key of theirs stops on its next request; data kept) or enables them again. */
  async setUserDisabled(userId: string, disabled: boolean): Promise<UserView> {
    return (await this.#post<{ user: UserView }>(`/v1/admin/users/${encodeURIComponent(userId)}/${disabled ? 'disable' : 'enable'}`, {})).user;
  }

  /** Workers take no new jobs from the queue(s) until resumed; running ones finish. */
  pauseQueue(): Promise<QueueControlView> {
    return this.#post('/v1/admin/queue/pause', {});
  }

  resumeQueue(): Promise<QueueControlView> {
    return this.#post('/v1/admin/queue/resume', {});
  }

  /** Puts every failed job (or one user's) back in the queue under its own id. */
  retryFailed(body: RetryFailedBody = {}): Promise<RetryFailedView> {
    return this.#post('/v1/admin/jobs/retry-failed', body);
  }

  /** The per-model history of the last hour, day or week. */
  history(range: HistoryRange, signal?: AbortSignal): Promise<HistoryView> {
    return this.#json('GET', `/v1/admin/history?range=${range}`, { signal });
  }

  /** Delivers a final job's webhook again. */
  redeliverJob(id: string): Promise<Redelivery> {
    return this.#json('POST', `/v1/admin/jobs/${encodeURIComponent(id)}/redeliver`);
  }

  /** Retries the failed jobs of a selection: `dryRun` previews the count and the `asOf` to send back. */
  retryJobs(body: RetryJobsBody): Promise<RetryJobsView> {
    return this.#post('/v1/admin/jobs/retry', body);
  }

  /** Deletes finished jobs older than an age, or with `dryRun` counts them. */
  cleanJobs(body: CleanJobsBody): Promise<CleanJobsView> {
    return this.#post('/v1/admin/jobs/clean', body);
  }

  /** Cancels any user's job (administrators). */
  cancelAnyJob(id: string): Promise<JobView> {
    return this.#json('POST', `/v1/admin/jobs/${encodeURIComponent(id)}/cancel`);
  }

  retryJob(id: string): Promise<JobView> {
    return this.#json('POST', `/v1/admin/jobs/${encodeURIComponent(id)}/retry`);
  }

  /** Models, their versions, the live one, workers ready on each, and any swap under way. */
  models(signal?: AbortSignal): Promise<ModelsView> {
    return this.#json('GET', '/v1/models', { signal });
  }

  /** A model's traffic split, the workers warm on each of its versions, and its latest rollbacks. */
  traffic(model: string, signal?: AbortSignal): Promise<TrafficView> {
    return this.#json('GET', `/v1/admin/models/${encodeURIComponent(model)}/traffic`, { signal });
  }

  /** Two versions compared on the jobs they ran since the split was set. */
  compareVersions(model: string, baseline: string, candidate: string, signal?: AbortSignal): Promise<ModelComparison> {
    const query = new URLSearchParams({ baseline, candidate });
    return this.#json('GET', `/v1/admin/models/${encodeURIComponent(model)}/compare?${query}`, { signal });
  }

  /** The latest automatic rollbacks over every model, newest first. */
  async rollbacks(signal?: AbortSignal): Promise<ModelRollbackView[]> {
    return (await this.#json<{ rollbacks: ModelRollbackView[] }>('GET', '/v1/admin/rollbacks', { signal })).rollbacks;
  }
}
