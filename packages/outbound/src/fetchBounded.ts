import type { LookupFunction } from 'node:net';
import { request, type Dispatcher } from 'undici';
import { checkOutboundUrl, isOutboundRefused, type OutboundPolicy, type OutboundRefusal } from './outboundPolicy.ts';
import { createOutboundAgent } from './outboundAgent.ts';

export interface FetchBoundedOptions {
  policy: OutboundPolicy;
  /** Refuse a body longer than this, declared or counted. */
  maxBytes: number;
  /** The whole fetch (connect, answer, body) must end within this. @defaultValue 10000 */
  timeoutMs?: number;
  /** Name resolution; its answers are checked before connecting. @defaultValue dns.lookup */
  lookup?: LookupFunction;
  /** Sent as `Accept`. @defaultValue '*\/*' */
  accept?: string;
  /** A dispatcher to reuse (built with createOutboundAgent for the same policy); one is made per fetch otherwise. */
  agent?: Dispatcher;
}

/** Why a fetch did not give a body: the guard refused the URL (never fetched), or the fetch failed. */
export type FetchFailure = 'redirect' | 'not_found' | 'http_status' | 'too_large' | 'timeout' | 'fetch_failed';

/** A URL the outbound policy refuses: no connection was made. */
export class FetchRefusedError extends Error {
  readonly reason: OutboundRefusal;
  constructor(reason: OutboundRefusal) {
    super(`refused: ${reason.replaceAll('_', ' ')}`);
    this.name = 'FetchRefusedError';
    this.reason = reason;
  }
}

/** A fetch that was allowed and failed. `status` is the remote's HTTP status where it answered one. */
export class FetchFailedError extends Error {
  readonly reason: FetchFailure;
  readonly status: number | undefined;
  constructor(reason: FetchFailure, message: string, status?: number) {
    super(message);
    this.name = 'FetchFailedError';
    this.reason = reason;
    this.status = status;
  }
}

/**
 * GETs one URL under the outbound policy and returns its body, bounded in bytes and time: the URL
 * is checked before anything is sent, every connection is checked on its resolved address (so a
 * name pointing inside is refused at connect time, DNS rebinding included), redirects are never
 * followed, a declared `Content-Length` past `maxBytes` is refused before the body is read and a
 * body that grows past it is cut off at once. Errors carry a reason and never what the remote
 * answered.
 */
export async function fetchBounded(
  raw: string,
  options: FetchBoundedOptions,
): Promise<{ body: Buffer; contentType: string | undefined }> {
  let url: URL;
  try {
    url = checkOutboundUrl(raw, options.policy);
  } catch (error) {
    if (isOutboundRefused(error)) throw new FetchRefusedError(error.reason);
    throw error;
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const agent =
    options.agent ??
    createOutboundAgent(options.policy, {
      ...(options.lookup ? { lookup: options.lookup } : {}),
      connectTimeoutMs: timeoutMs,
    });
  try {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: 'GET',
        dispatcher: agent,
        signal: controller.signal,
        headers: { accept: options.accept ?? '*/*' },
      });
    } catch (error) {
      if (isOutboundRefused(error) || isOutboundRefused((error as { cause?: unknown }).cause))
        throw new FetchRefusedError('private_address');
      if (controller.signal.aborted) throw new FetchFailedError('timeout', `no answer within ${timeoutMs} ms`);
      throw new FetchFailedError('fetch_failed', 'the URL could not be reached');
    }
    const { statusCode, headers, body } = response;
    try {
      if (statusCode >= 300 && statusCode < 400)
        throw new FetchFailedError(
          'redirect',
          `the URL answered with a redirect (HTTP ${statusCode}); give the URL it points to`,
          statusCode,
        );
      if (statusCode === 404 || statusCode === 410)
        throw new FetchFailedError('not_found', `the URL was not found (HTTP ${statusCode})`, statusCode);
      if (statusCode < 200 || statusCode >= 300)
        throw new FetchFailedError('http_status', `the URL answered HTTP ${statusCode}`, statusCode);
      const declared = Number(headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes)
        throw new FetchFailedError('too_large', `the URL's body is ${declared} bytes, more than ${options.maxBytes}`);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > options.maxBytes)
          throw new FetchFailedError('too_large', `the URL's body is more than ${options.maxBytes} bytes`);
        chunks.push(chunk);
      }
      const type = headers['content-type'];
      return { body: Buffer.concat(chunks, size), contentType: Array.isArray(type) ? type[0] : type };
    } catch (error) {
      // The rest of the body is not wanted; its destruction's own error has nobody to tell.
      body.on('error', () => {});
      body.destroy();
      if (error instanceof FetchFailedError) throw error;
      if (controller.signal.aborted)
        throw new FetchFailedError('timeout', `the body did not arrive within ${timeoutMs} ms`);
      throw new FetchFailedError('fetch_failed', 'the body could not be read');
    }
  } finally {
    clearTimeout(timer);
    if (!options.agent) await (agent as { destroy(): Promise<void> }).destroy().catch(() => {});
  }
}
