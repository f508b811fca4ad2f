// Load generation: HTTP clients on undici (keep-alive pools, far cheaper per request than fetch,
// which matters when the load generator shares 2 cores with what it measures), a closed loop
// (N clients, each submits and waits for its result) and an open loop (a fixed rate, timed from
// each request's scheduled start so a slow server cannot hide its delay: no coordinated omission).
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';

export interface MultipartBody {
  body: Buffer;
  contentType: string;
}

/** A multipart/form-data body with one file in the field `image`, built once and sent many times. */
export function multipartImage(image: Buffer, filename: string, mime: string, fieldName = 'image'): MultipartBody {
  const boundary = `----inferq${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${fieldName}"; filename="${filename}"\r\nContent-Type: ${mime}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, image, tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A multipart/form-data body with `count` copies of one file, each a part named `fieldName` (a batch submit). */
export function multipartImages(
  image: Buffer,
  count: number,
  filename: string,
  mime: string,
  fieldName = 'image',
): MultipartBody {
  const boundary = `----inferq${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${fieldName}"; filename="${filename}"\r\nContent-Type: ${mime}\r\n\r\n`,
  );
  const parts = Array.from({ length: count }, (_, i) =>
    Buffer.concat([i === 0 ? Buffer.alloc(0) : Buffer.from('\r\n'), head, image]),
  );
  return {
    body: Buffer.concat([...parts, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
  /** Milliseconds from sending to the whole answer. */
  ms: number;
}

export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** A keep-alive connection pool to one server. */
export class HttpClient {
  readonly pool: Pool;
  readonly headers: Record<string, string>;

  constructor(baseUrl: string, options: { connections: number; headers?: Record<string, string> }) {
    this.pool = new Pool(baseUrl, { connections: options.connections, pipelining: 1, keepAliveTimeout: 60_000 });
    this.headers = options.headers ?? {};
  }

  /** Sends one request; a request still unanswered after `timeoutMs` rejects with TimeoutError. */
  async request<T = unknown>(
    method: 'GET' | 'POST',
    path: string,
    options: { body?: MultipartBody; timeoutMs?: number; headers?: Record<string, string> } = {},
  ): Promise<HttpAnswer<T>> {
    const started = performance.now();
    const timeoutMs = options.timeoutMs ?? 60_000;
    const headers: Record<string, string> = { ...this.headers, ...options.headers };
    if (options.body) headers['content-type'] = options.body.contentType;
    let response;
    try {
      response = await this.pool.request({
        method,
        path,
        headers,
        body: options.body?.body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.body.text();
      const ms = performance.now() - started;
      let body: unknown = text;
      if (text.startsWith('{') || text.startsWith('[')) body = JSON.parse(text);
      return { status: response.statusCode, body: body as T, ms };
    } catch (error) {
      if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError')
        throw new TimeoutError(timeoutMs);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

export interface JobAnswer {
  id: string;
  status: string;
  timings: { queueWaitMs: number | null; inferenceMs: number | null; totalMs: number | null };
  error?: { code: string } | null;
}

export const isFinal = (status: string) => status === 'succeeded' || status === 'failed' || status === 'canceled';

/**
 * Waits for a job with `GET /v1/jobs/:id?wait=N` (a long poll answered the moment the job is
 * final); asks again after each wait that ends unfinished.
 */
export async function waitForJob(
  client: HttpClient,
  id: string,
  options: { waitSeconds?: number; deadlineMs?: number; headers?: Record<string, string> } = {},
): Promise<JobAnswer> {
  const waitSeconds = options.waitSeconds ?? 20;
  const deadline = performance.now() + (options.deadlineMs ?? 600_000);
  for (;;) {
    const answer = await client.request<JobAnswer>('GET', `/v1/jobs/${id}?wait=${waitSeconds}`, {
      timeoutMs: waitSeconds * 1000 + 10_000,
      headers: options.headers,
    });
    if (answer.status !== 200)
      throw new Error(`GET /v1/jobs/${id} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 200)}`);
    if (isFinal(answer.body.status)) return answer.body;
    if (performance.now() > deadline) throw new Error(`job ${id} still ${answer.body.status} at the deadline`);
  }
}

/**
 * `clients` loops run `task` back to back until `jobs` tasks have started or `durationMs` has
 * passed (whichever is given; both: the first reached). Resolves with the wall time.
 */
export async function closedLoop(options: {
  clients: number;
  jobs?: number;
  durationMs?: number;
  task: (client: number, index: number) => Promise<void>;
}): Promise<number> {
  const started = performance.now();
  let next = 0;
  const more = () =>
    (options.jobs === undefined || next < options.jobs) &&
    (options.durationMs === undefined || performance.now() - started < options.durationMs);
  await Promise.all(
    Array.from({ length: options.clients }, async (_, client) => {
      while (more()) await options.task(client, next++);
    }),
  );
  return performance.now() - started;
}

/**
 * Starts `fire(i, scheduledAt)` at `rate` per second for `durationMs`, on schedule whatever the
 * answers do (an open loop). `fire` is not awaited; resolves when the last one has settled.
 */
export async function openLoop(options: {
  rate: number;
  durationMs: number;
  fire: (index: number, scheduledAt: number) => Promise<void>;
}): Promise<{ sent: number; wallMs: number; maxLagMs: number }> {
  const started = performance.now();
  const total = Math.floor((options.rate * options.durationMs) / 1000);
  const interval = 1000 / options.rate;
  const pending: Array<Promise<void>> = [];
  let sent = 0;
  let maxLagMs = 0;
  while (sent < total) {
    const now = performance.now();
    // Everything due by now goes out at once: a late timer never lowers the offered rate.
    while (sent < total && started + sent * interval <= now) {
      const scheduledAt = started + sent * interval;
      maxLagMs = Math.max(maxLagMs, now - scheduledAt);
      pending.push(options.fire(sent, scheduledAt).catch(() => {}));
      sent++;
    }
    const nextAt = started + sent * interval;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextAt - performance.now())));
  }
  await Promise.all(pending);
  return { sent, wallMs: performance.now() - started, maxLagMs };
}
