import type { JobListView, JobStatus, JobView } from '@inferq/core';
import type { ApiTransport, UploadProgress } from './apiTransport.ts';

export type JobPage = JobListView;

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

export interface SubmitOptions {
  model?: string | undefined;
  fileName?: string | undefined;
  /** Called as the body goes out; without it the upload uses fetch. */
  onProgress?: ((progress: UploadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** The query string of a job listing (the caller's own, or the administrators'). */
export function listJobsSearch(query: ListJobsQuery): string {
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

/** The caller's own jobs: the same /v1/jobs routes clients use. */
export class JobsApi {
  readonly #transport: ApiTransport;

  constructor(transport: ApiTransport) {
    this.#transport = transport;
  }

  list(query: ListJobsQuery = {}, signal?: AbortSignal): Promise<JobPage> {
    return this.#transport.json('GET', `/v1/jobs${listJobsSearch(query)}`, { signal });
  }

  get(id: string, signal?: AbortSignal): Promise<JobView> {
    return this.#transport.json('GET', `/v1/jobs/${encodeURIComponent(id)}`, { signal });
  }

  async submit(image: Blob, options: SubmitOptions = {}): Promise<JobView> {
    const form = new FormData();
    if (options.model) form.set('model', options.model);
    form.set('image', image, options.fileName ?? 'image');
    if (!options.onProgress) return this.#transport.json('POST', '/v1/jobs', { body: form, signal: options.signal });
    const response = await this.#transport.sendWithProgress(
      'POST',
      '/v1/jobs',
      form,
      options.onProgress,
      options.signal,
    );
    return (await response.json()) as JobView;
  }

  cancel(id: string): Promise<JobView> {
    return this.#transport.json('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
  }

  /**
   * The job's input image, or with `size` a square WebP thumbnail that many pixels wide; shown
   * through an object URL, since an <img> cannot send the key.
   */
  async image(id: string, signal?: AbortSignal, size?: number): Promise<Blob> {
    const query = size ? `?size=${size}` : '';
    const response = await this.#transport.send('GET', `/v1/jobs/${encodeURIComponent(id)}/image${query}`, {
      signal,
      headers: { Accept: 'image/*' },
    });
    return response.blob();
  }
}
