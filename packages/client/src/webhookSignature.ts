/** A request's headers: a Fetch `Headers`, or Node's `req.headers` (names in lower case). */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** Your webhook secret (`GET /v1/account/webhook-secret`): `whsec_` and base64. */
  secret: string;
  /** The raw request body, exactly as received (before any JSON parsing). */
  body: string;
  /**
   * The delivery's headers: its Standard Webhooks signature (`webhook-id`, `webhook-timestamp`,
   * `webhook-signature`) is checked, or else its `InferQ-Signature`.
   */
  headers?: WebhookHeaders | undefined;
  /** The `InferQ-Signature` header alone (`t=<unix seconds>,v1=<hex HMAC-SHA256>`), the original scheme. */
  header?: string | null | undefined;
  /** Oldest accepted signature, in seconds. @defaultValue 300 */
  toleranceSeconds?: number;
  /** Unix seconds. @defaultValue now */
  now?: number;
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function base64(bytes: ArrayBuffer): string {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text);
}

/** The key bytes of a `whsec_<base64>` secret (either base64 alphabet). */
function secretBytes(secret: string): Uint8Array<ArrayBuffer> {
  const encoded = secret
    .replace(/^whsec_/, '')
    .replace(/-/g, '+')
    .replace(/_/g, '/');
  const text = atob(encoded.padEnd(encoded.length + ((4 - (encoded.length % 4)) % 4), '='));
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

/** Constant-time comparison of two strings of the same length. */
function equal(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= a.charCodeAt(index) ^ b.charCodeAt(index);
  return difference === 0;
}

function headerOf(headers: WebhookHeaders | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

async function hmac(key: Uint8Array<ArrayBuffer>, text: string): Promise<ArrayBuffer> {
  const imported = await globalThis.crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  return globalThis.crypto.subtle.sign('HMAC', imported, new TextEncoder().encode(text));
}

function recent(timestamp: number, options: VerifyWebhookOptions): boolean {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  return Number.isInteger(timestamp) && Math.abs(now - timestamp) <= (options.toleranceSeconds ?? 300);
}

/**
 * True when the delivery is signed with `secret` and recent. With `headers`, the Standard Webhooks
 * signature (https://www.standardwebhooks.com) is checked when the delivery has one; otherwise
 * the `InferQ-Signature` header (the original scheme, sent for one more release). Uses Web
 * Crypto, so it runs in Node, Deno, Bun and edge runtimes alike.
 */
export async function verifyWebhookSignature(options: VerifyWebhookOptions): Promise<boolean> {
  const id = headerOf(options.headers, 'webhook-id');
  const timestampText = headerOf(options.headers, 'webhook-timestamp');
  const signature = headerOf(options.headers, 'webhook-signature');
  if (id && timestampText && signature) {
    const timestamp = Number(timestampText);
    if (!recent(timestamp, options)) return false;
    let key: Uint8Array<ArrayBuffer>;
    try {
      key = secretBytes(options.secret);
    } catch {
      return false;
    }
    const expected = `v1,${base64(await hmac(key, `${id}.${timestamp}.${options.body}`))}`;
    return signature.split(' ').some((candidate) => equal(candidate, expected));
  }
  return verifyInferQSignature(options.header ?? headerOf(options.headers, 'inferq-signature'), options);
}

async function verifyInferQSignature(
  header: string | null | undefined,
  options: VerifyWebhookOptions,
): Promise<boolean> {
  if (!header) return false;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't') timestamp = Number(value);
    else if (key === 'v1' && value) signatures.push(value);
  }
  if (timestamp === undefined || !recent(timestamp, options)) return false;
  // Keyed with the secret in the URL-safe alphabet it was first issued in.
  const legacySecret = options.secret.replace(/\+/g, '-').replace(/\//g, '_');
  const expected = hex(
    await hmac(new TextEncoder().encode(legacySecret) as Uint8Array<ArrayBuffer>, `${timestamp}.${options.body}`),
  );
  return signatures.some((candidate) => equal(candidate, expected));
}
