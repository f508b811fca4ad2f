import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * Secrets stored encrypted at rest (the webhook signing secrets): AES-256-GCM with a key from the
 * environment, the key's id stored with each ciphertext so keys can rotate. The first key
 * encrypts; every key decrypts, so old keys stay listed until `webhook-secrets reencrypt` (admin
 * CLI) has moved every secret to the current one.
 *
 * Stored form: `enc1:<key id>:<12-byte IV, base64url>:<ciphertext and 16-byte tag, base64url>`.
 * The row's own id is the additional data: a ciphertext copied onto another row does not open.
 * Text without the `enc1:` prefix is a secret stored in clear (before encryption, or where no key
 * is configured) and is read as it is.
 */
export interface SecretKey {
  /** Names the key in stored values: letters, digits, `_` and `-`, at most 32. */
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

const prefix = 'enc1:';
const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;

export class SecretBox {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #current: SecretKey | undefined;

  /** `keys[0]` encrypts; none: secrets are stored in clear (development only, see the env check). */
  constructor(keys: readonly SecretKey[] = []) {
    for (const { id, key } of keys) {
      if (!keyIdPattern.test(id))
        throw new RangeError(`secret key id "${id}" must be letters, digits, "_" or "-", at most 32`);
      if (key.length !== 32) throw new RangeError(`secret key "${id}" must be 32 bytes (AES-256), got ${key.length}`);
    }
    if (new Set(keys.map((key) => key.id)).size !== keys.length)
      throw new RangeError('secret key ids must be distinct');
    this.#keys = new Map(keys.map(({ id, key }) => [id, key]));
    this.#current = keys[0];
  }

  /** Whether new secrets are encrypted (a key is configured). */
  get encrypting(): boolean {
    return this.#current !== undefined;
  }

  /** The id of the key new secrets are encrypted with; undefined when none is configured. */
  get currentKeyId(): string | undefined {
    return this.#current?.id;
  }

  /** `plain` as stored for the row `context` (its id): encrypted with the current key, or as it is without one. */
  seal(plain: string, context: string): string {
    const current = this.#current;
    if (!current) return plain;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${prefix}${current.id}:${iv.toString('base64url')}:${sealed.toString('base64url')}`;
  }

  /**
   * The secret `stored` for the row `context`. Throws when it was sealed with a key that is no
   * longer configured, or does not open (tampered, or another row's).
   */
  open(stored: string, context: string): string {
    if (!stored.startsWith(prefix)) return stored;
    const [id, iv, sealed] = stored.slice(prefix.length).split(':');
    const key = id === undefined ? undefined : this.#keys.get(id);
    if (!key || iv === undefined || sealed === undefined)
      throw new Error(`a secret is sealed with key "${id ?? ''}", which is not configured (WEBHOOK_SECRET_KEYS)`);
    const bytes = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
  }

  /** Whether `stored` is already what `seal` makes now: sealed with the current key, or clear text when there is none. */
  isCurrent(stored: string): boolean {
    const current = this.#current;
    if (!current) return !stored.startsWith(prefix);
    return stored.startsWith(`${prefix}${current.id}:`);
  }
}

/** What a process says at boot when WEBHOOK_SECRET_KEYS is not set (allowed outside production only). */
export const clearSecretsWarning =
  'WEBHOOK_SECRET_KEYS is not set: webhook signing secrets are stored and read in clear text. That is allowed outside production only; set it (id:base64 of 32 bytes), then run `pnpm admin webhook-secrets reencrypt`.';

/** The check each app adds to its env: WEBHOOK_SECRET_KEYS is required in production. */
export function requireSecretKeysInProduction(
  env: { NODE_ENV: string; WEBHOOK_SECRET_KEYS?: SecretKey[] | undefined },
  ctx: z.RefinementCtx,
): void {
  if (env.NODE_ENV === 'production' && !env.WEBHOOK_SECRET_KEYS) {
    ctx.addIssue({
      code: 'custom',
      path: ['WEBHOOK_SECRET_KEYS'],
      message:
        'is required in production: webhook signing secrets are stored encrypted with it (id:base64 of 32 bytes, e.g. k1:$(openssl rand -base64 32))',
    });
  }
}

/**
 * WEBHOOK_SECRET_KEYS: `id:base64key` pairs, comma-separated, the current key first
 * (`k2:…,k1:…`); each key is 32 random bytes (`openssl rand -base64 32`).
 */
export const secretKeysEnvSchema = z.string().transform((text, ctx): SecretKey[] => {
  const keys: SecretKey[] = [];
  for (const entry of text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const at = entry.indexOf(':');
    const id = entry.slice(0, at);
    const key = Buffer.from(entry.slice(at + 1), 'base64');
    if (at < 1 || !keyIdPattern.test(id) || key.length !== 32) {
      ctx.addIssue({
        code: 'custom',
        message: 'each key is id:base64 of 32 bytes (openssl rand -base64 32), the id letters, digits, "_" or "-"',
      });
      return z.NEVER;
    }
    keys.push({ id, key });
  }
  if (keys.length === 0 || new Set(keys.map((key) => key.id)).size !== keys.length) {
    ctx.addIssue({ code: 'custom', message: 'give at least one key, each id once' });
    return z.NEVER;
  }
  return keys;
});
