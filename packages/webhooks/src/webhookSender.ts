import type { LookupFunction } from 'node:net';
import { createOutboundAgent, isOutboundRefused } from '@inferq/outbound';
import { request, type Agent } from 'undici';
import { checkWebhookUrl, type WebhookUrlPolicy } from './webhookUrl.ts';

export interface WebhookSenderOptions extends WebhookUrlPolicy {
  /** Longest an attempt may take, connection to end of the answer. @defaultValue 10000 */
  timeoutMs?: number;
  /** @defaultValue "InferQ-Webhooks/1" */
  userAgent?: string;
  /** Name resolution; its answers are checked before connecting. @defaultValue dns.lookup */
  lookup?: LookupFunction;
  /**
   * Where why a target was refused is written (at debug: private address, no such name, port),
   * for operators only; the owner's record says just {@link refusedMessage}. @defaultValue none
   */
  logger?: { debug(details: object, message: string): void };
}

/**
 * What a webhook's owner reads when the target was refused: the same words whether its name
 * resolves to a private address, resolves to nothing, or it names a port that is not allowed,
 * so the record maps neither the inside network's names nor its ports.
 */
export const refusedMessage = 'refused';

export interface WebhookAttemptResult {
  /** True for a 2xx answer. */
  ok: boolean;
  /** The receiver's status; null when no answer came. */
  statusCode: number | null;
  /**
   * Why the attempt failed (a non-2xx answer, a timeout, a refused address), in words the
   * webhook's owner may read: never resolver output or addresses behind the name.
   */
  error: string | null;
  durationMs: number;
}

/**
 * Sends one webhook request. The connection goes through an @inferq/outbound agent that refuses
 * any address that is not public unicast (private, loopback, link-local, unique-local, CGNAT,
 * IPv4-compatible IPv6, reserved) at connect time, so a name that resolves differently later
 * cannot reach inside. Redirects are never followed (a 3xx is a failed attempt) and the answer
 * body is not kept.
 */
export class WebhookSender {
  readonly #options: WebhookSenderOptions;
  readonly #agent: Agent;

  constructor(options: WebhookSenderOptions = {}) {
    this.#options = options;
    this.#agent = createOutboundAgent(
      { allowLoopback: options.allowLoopback === true },
      { ...(options.lookup ? { lookup: options.lookup } : {}), connectTimeoutMs: options.timeoutMs ?? 10_000 },
    );
  }

  async send(rawUrl: string, body: string, headers: Record<string, string>): Promise<WebhookAttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let url: string;
    try {
      url = checkWebhookUrl(rawUrl, this.#options);
    } catch (error) {
      const reason = (error as { details?: { reason?: string } }).details?.reason;
      this.#options.logger?.debug({ reason }, 'webhook target refused');
      return {
        ok: false,
        statusCode: null,
        error:
          reason === 'private_address' || reason === 'port' ? refusedMessage : `refused: ${(error as Error).message}`,
        durationMs: elapsed(),
      };
    }
    const timeoutMs = this.#options.timeoutMs ?? 10_000;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': this.#options.userAgent ?? 'InferQ-Webhooks/1',
          ...headers,
        },
        body,
      });
      // Drain without keeping the body: only the status matters.
      await response.body.dump({ limit: 64 * 1024, signal });
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      return {
        ok,
        statusCode: response.statusCode,
        error: ok ? null : `answered ${response.statusCode}`,
        durationMs: elapsed(),
      };
    } catch (error) {
      const failure = describeFailure(error, signal, timeoutMs);
      if (failure.refused) this.#options.logger?.debug({ reason: failure.reason }, 'webhook target refused');
      return { ok: false, statusCode: null, error: failure.message, durationMs: elapsed() };
    }
  }

  close(): void {
    void this.#agent.destroy();
  }
}

/**
 * What the owner may read of a failed attempt: a category, not the network's internals. A name
 * that resolves to a private address and one that does not resolve are both just `refused`
 * (`refused` and `reason` say which, for the operators' debug log).
 */
function describeFailure(
  error: unknown,
  signal: AbortSignal,
  timeoutMs: number,
): { message: string; refused: boolean; reason?: string } {
  if (signal.aborted) return { message: `timed out after ${timeoutMs} ms`, refused: false };
  const cause = (error as { cause?: unknown }).cause;
  if (isOutboundRefused(error) || isOutboundRefused(cause))
    return { message: refusedMessage, refused: true, reason: 'private_address' };
  const code = (error as NodeJS.ErrnoException).code ?? (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return { message: refusedMessage, refused: true, reason: 'no_such_name' };
  if (code === 'ECONNREFUSED') return { message: 'connection refused', refused: false };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { message: `timed out after ${timeoutMs} ms`, refused: false };
  if (typeof code === 'string' && (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT')))
    return { message: 'TLS handshake failed', refused: false };
  return { message: 'connection failed', refused: false };
}
