import type {
  AccountView,
  AdminJobView,
  JobListView,
  JobStatus,
  JobView,
  ModelsView,
  QueueSnapshot,
  StatsSeries,
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

  async #json<T>(method: string, path: string, init: { body?: BodyInit; signal?: AbortSignal | undefined } = {}): Promise<T> {
    const response = await this.#send(method, path, init);
    return (await response.json()) as T;
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

  submitJob(image: Blob, fields: { model?: string | undefined; fileName?: string | undefined } = {}): Promise<JobView> {
    const form = new FormData();
    if (fields.model) form.set('model', fields.model);
    form.set('image', image, fields.fileName ?? 'image');
    return this.#json('POST', '/v1/jobs', { body: form });
  }

  cancelJob(id: string): Promise<JobView> {
    return this.#json('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
  }

  /** The job's input image; shown through an object URL, since an <img> cannot send the key. */
  async jobImage(id: string, signal?: AbortSignal): Promise<Blob> {
    const response = await this.#send('GET', `/v1/jobs/${encodeURIComponent(id)}/image`, { signal, headers: { Accept: 'image/*' } });
    return response.blob();
  }

  overview(signal?: AbortSignal): Promise<QueueSnapshot> {
    return this.#json('GET', '/v1/admin/overview', { signal });
  }

  stats(window: { windowSeconds: number; bucketSeconds: number }, signal?: AbortSignal): Promise<StatsSeries> {
    return this.#json('GET', `/v1/admin/stats?window=${window.windowSeconds}&bucket=${window.bucketSeconds}`, { signal });
  }

  /** Every user's jobs, newest first (administrators). */
  adminJobs(query: ListJobsQuery = {}, signal?: AbortSignal): Promise<AdminJobPage> {
    return this.#json('GET', `/v1/admin/jobs${searchOf(query)}`, { signal });
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
}
