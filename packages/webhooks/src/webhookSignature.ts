import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: `InferQ-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the HMAC key
 * is the owner's webhook secret and the signed text is `${t}.${body}`. The timestamp is signed too,
 * so a captured delivery cannot be replayed later than the receiver's tolerance.
 */
export const signatureHeader = 'InferQ-Signature';

export function signWebhook(options: { secret: string; body: string; timestamp: number }): string {
  const mac = createHmac('sha256', options.secret).update(`${options.timestamp}.${options.body}`).digest('hex');
  return `t=${options.timestamp},v1=${mac}`;
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

/** True when the header signs this body with this secret within the tolerance. */
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
  const expected = Buffer.from(createHmac('sha256', options.secret).update(`${timestamp}.${options.body}`).digest('hex'));
  // Several v1 values may be sent while a secret is being rotated; any match is enough.
  return (parts.get('v1') ?? []).some((candidate) => {
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
