import http from 'node:http';
import type { LookupFunction } from 'node:net';
import https from 'node:https';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent, type RequestFilteringAgentOptions } from 'request-filtering-agent';
import { checkWebhookUrl, type WebhookUrlPolicy } from './webhookUrl.ts';

export interface WebhookSenderOptions extends WebhookUrlPolicy {
  /** Longest an attempt may take, connection to end of the answer. @defaultValue 10000 */
  timeoutMs?: number;
  /** @defaultValue "InferQ-Webhooks/1" */
  userAgent?: string;
  /** Name resolution; its answers are checked before connecting. @defaultValue dns.lookup */
  lookup?: LookupFunction;
}

export interface WebhookAttemptResult {
  /** True for a 2xx answer. */
  ok: boolean;
  /** The receiver's status; null when no answer came. */
  statusCode: number | null;
  /** Why the attempt failed (a non-2xx answer, a timeout, a refused address). */
  error: string | null;
  durationMs: number;
}

/**
 * Sends one webhook request. The connection goes through agents that resolve the host and refuse
 * any address that is not public unicast (private, loopback, link-local, unique-local, CGNAT,
 * reserved) at connect time, so a name that resolves differently later cannot reach inside.
 * Redirects are never followed (a 3xx is a failed attempt) and the answer body is not kept.
 */
export class WebhookSender {
  readonly #options: WebhookSenderOptions;
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;

  constructor(options: WebhookSenderOptions = {}) {
    this.#options = options;
    const filter: RequestFilteringAgentOptions = options.allowLoopback ? { allowIPAddressList: ['127.0.0.0/8', '::1'] } : {};
    this.#httpAgent = new RequestFilteringHttpAgent({ keepAlive: false, ...filter });
    this.#httpsAgent = new RequestFilteringHttpsAgent({ keepAlive: false, ...filter });
  }

  async send(rawUrl: string, body: string, headers: Record<string, string>): Promise<WebhookAttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let url: URL;
    try {
      url = new URL(checkWebhookUrl(rawUrl, this.#options));
    } catch (error) {
      return { ok: false, statusCode: null, error: `refused: ${(error as Error).message}`, durationMs: elapsed() };
    }
    const timeoutMs = this.#options.timeoutMs ?? 10_000;
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<WebhookAttemptResult>((resolve) => {
      let settled = false;
      const finish = (result: Omit<WebhookAttemptResult, 'durationMs'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ ...result, durationMs: elapsed() });
      };
      const request = transport.request(url, {
        method: 'POST',
        agent: url.protocol === 'https:' ? this.#httpsAgent : this.#httpAgent,
        ...(this.#options.lookup ? { lookup: this.#options.lookup } : {}),
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body).toString(),
          'user-agent': this.#options.userAgent ?? 'InferQ-Webhooks/1',
          ...headers,
        },
      });
      const deadline = setTimeout(() => {
        request.destroy();
        finish({ ok: false, statusCode: null, error: `timed out after ${timeoutMs} ms` });
      }, timeoutMs);
      request.on('response', (response) => {
        const statusCode = response.statusCode ?? 0;
        // Drain without keeping the body: only the status matters.
        response.resume();
        response.on('end', () => {
          const ok = statusCode >= 200 && statusCode < 300;
          finish({ ok, statusCode, error: ok ? null : `answered ${statusCode}` });
        });
        response.on('error', (error) => finish({ ok: false, statusCode, error: error.message }));
      });
      request.on('error', (error) => finish({ ok: false, statusCode: null, error: error.message.slice(0, 500) }));
      request.end(body);
    });
  }

  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}
