/** An error answer of the API, or a network failure (`status` 0, code `NETWORK`). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** From `Retry-After` when the API sent it. */
  readonly retryAfterSeconds: number | null;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { details?: unknown; retryAfterSeconds?: number | null } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }
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

export interface ApiRequestInit {
  body?: BodyInit;
  signal?: AbortSignal | undefined;
  headers?: Record<string, string>;
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
    return new ApiError(response.status, error.code, typeof error.message === 'string' ? error.message : '', {
      details: error.details,
      retryAfterSeconds,
    });
  }
  return new ApiError(
    response.status,
    response.status >= 500 ? 'INTERNAL' : 'BAD_REQUEST',
    `The API answered ${response.status}.`,
    { retryAfterSeconds },
  );
}

/**
 * The one place the dashboard's requests are made: the key in the Authorization header, no
 * cookies, no cache, an error answer turned into an {@link ApiError} and a 401 reported. The
 * clients by concern (`JobsApi`, `OperatorsApi`, `ModelsApi`, `EventsApi`) each hold this one.
 */
export class ApiTransport {
  readonly #options: ApiClientOptions;

  constructor(options: ApiClientOptions) {
    this.#options = options;
  }

  get apiKey(): string {
    return this.#options.apiKey;
  }

  /** The absolute (or same-origin) URL of an API path. */
  url(path: string): string {
    return `${this.#options.baseUrl ?? ''}${path}`;
  }

  /** The fetch requests go through. */
  get fetch(): typeof fetch {
    return this.#options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async send(method: string, path: string, init: ApiRequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await this.fetch(this.url(path), {
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
    return this.#checked(response);
  }

  async json<T>(method: string, path: string, init: ApiRequestInit = {}): Promise<T> {
    const response = await this.send(method, path, init);
    return (await response.json()) as T;
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.json('POST', path, { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  }

  /** The same request as {@link send}, over XMLHttpRequest for its upload progress events. */
  sendWithProgress(
    method: string,
    path: string,
    body: FormData,
    onProgress: (progress: UploadProgress) => void,
    signal?: AbortSignal,
  ): Promise<Response> {
    const xhr = this.#options.xhr?.() ?? new XMLHttpRequest();
    return new Promise<Response>((resolve, reject) => {
      xhr.open(method, this.url(path));
      xhr.setRequestHeader('Authorization', `Bearer ${this.#options.apiKey}`);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.withCredentials = false;
      xhr.responseType = 'text';
      xhr.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) onProgress({ loaded: event.loaded, total: event.total });
      });
      xhr.addEventListener('load', () => {
        const headers = new Headers();
        for (const line of xhr
          .getAllResponseHeaders()
          .trim()
          .split(/[\r\n]+/)) {
          const at = line.indexOf(':');
          if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
        }
        resolve(
          new Response(xhr.status === 204 || xhr.status === 304 ? null : xhr.responseText, {
            status: xhr.status,
            headers,
          }),
        );
      });
      xhr.addEventListener('error', () => reject(new ApiError(0, 'NETWORK', 'The API cannot be reached.')));
      xhr.addEventListener('abort', () => reject(new DOMException('The upload was aborted.', 'AbortError')));
      signal?.addEventListener('abort', () => xhr.abort());
      xhr.send(body);
    }).then((response) => this.#checked(response));
  }

  /** The response when it is a success; otherwise its ApiError, thrown after a 401 is reported. */
  async #checked(response: Response): Promise<Response> {
    if (response.ok) return response;
    const error = await errorOf(response);
    if (response.status === 401) this.#options.onUnauthorized?.();
    throw error;
  }
}
