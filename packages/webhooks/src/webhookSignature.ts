import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Webhook signatures. Every delivery is signed twice:
 *
 * - Standard Webhooks (https://www.standardwebhooks.com): `webhook-id` (the delivery id, the same
 *   on every retry), `webhook-timestamp` (unix seconds) and `webhook-signature` (`v1,<base64
 *   HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the bytes the `whsec_<base64>` secret
 *   encodes). Any Standard Webhooks library verifies it with the secret as it is.
 * - The original `InferQ-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed
 *   with the secret string, kept for one release for receivers that check it.
 */
export const signatureHeader = 'InferQ-Signature';

/** The HMAC key of the original header: the secret as it was first issued, in the URL-safe alphabet. */
export function legacySigningSecret(secret: string): string {
  return secret.replace(/\+/g, '-').replace(/\//g, '_');
}

export function signWebhook(options: { secret: string; body: string; timestamp: number }): string {
  const mac = createHmac('sha256', legacySigningSecret(options.secret))
    .update(`${options.timestamp}.${options.body}`)
    .digest('hex');
  return `t=${options.timestamp},v1=${mac}`;
}

/** The three Standard Webhooks headers of one delivery. */
export function standardWebhookHeaders(options: {
  secret: string;
  messageId: string;
  body: string;
  timestamp: number;
}): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  // Secrets issued before the standard alphabet have the same bytes in the URL-safe one.
  const key = new Uint8Array(Buffer.from(options.secret.replace(/^whsec_/, ''), 'base64'));
  const signature = new Webhook(key, { format: 'raw' }).sign(
    options.messageId,
    new Date(options.timestamp * 1000),
    options.body,
  );
  return {
    'webhook-id': options.messageId,
    'webhook-timestamp': String(options.timestamp),
    'webhook-signature': signature,
  };
}

export interface VerifyWebhookOptions {
  secret: string;
  /** The raw request body, exactly as received. */
  body: string;
  /** The InferQ-Signature header. */
  header: string;
  /** Oldest accepted timestamp, in seconds from now. @defaultValue 300 */
  toleranceSeconds?: number;
  /** Unix seconds. @defaultValue now */
  now?: number;
}

/** True when the InferQ-Signature header signs this body with this secret within the tolerance. */
export function verifyWebhook(options: VerifyWebhookOptions): boolean {
  const parts = new Map<string, string[]>();
  for (const item of options.header.split(',')) {
    const [key, value] = item.trim().split('=', 2);
    if (key && value) parts.set(key, [...(parts.get(key) ?? []), value]);
  }
  const timestamp = Number(parts.get('t')?.[0]);
  if (!Number.isInteger(timestamp)) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(
    createHmac('sha256', legacySigningSecret(options.secret)).update(`${timestamp}.${options.body}`).digest('hex'),
  );
  // Several v1 values may be sent while a secret is being rotated; any match is enough.
  return (parts.get('v1') ?? []).some((candidate) => {
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
