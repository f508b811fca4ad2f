export interface VerifyWebhookOptions {
  /** Your webhook secret (`GET /v1/account/webhook-secret`). */
  secret: string;
  /** The raw request body, exactly as received (before any JSON parsing). */
  body: string;
  /** The `InferQ-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
  header: string | null | undefined;
  /** Oldest accepted signature, in seconds. @defaultValue 300 */
  toleranceSeconds?: number;
  /** Unix seconds. @defaultValue now */
  now?: number;
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Constant-time comparison of two strings of the same length. */
function equal(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= a.charCodeAt(index) ^ b.charCodeAt(index);
  return difference === 0;
}

/**
 * True when `header` signs `body` with `secret` and is recent. Uses Web Crypto, so it runs in Node,
 * Deno, Bun and edge runtimes alike.
 */
export async function verifyWebhookSignature(options: VerifyWebhookOptions): Promise<boolean> {
  if (!options.header) return false;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of options.header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't') timestamp = Number(value);
    else if (key === 'v1' && value) signatures.push(value);
  }
  if (timestamp === undefined || !Number.isInteger(timestamp)) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300)) return false;
  const encoder = new TextEncoder();
  const key = await globalThis.crypto.subtle.importKey('raw', encoder.encode(options.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const expected = hex(await globalThis.crypto.subtle.sign('HMAC', key, encoder.encode(`${timestamp}.${options.body}`)));
  return signatures.some((signature) => equal(signature, expected));
}
