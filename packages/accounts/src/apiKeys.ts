import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `iq_3f9a1c2b5d7e_<43 characters>`: a public prefix that finds the row, and a
 * 256-bit secret. Only SHA-256 of the whole key is stored; a key this random needs no slow hash.
 */
const keyPattern = /^(iq_[0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface GeneratedApiKey {
  /** The whole key: shown once, never stored. */
  key: string;
  prefix: string;
  hash: string;
}

export function generateApiKey(): GeneratedApiKey {
  const prefix = `iq_${randomBytes(6).toString('hex')}`;
  const key = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The prefix of a well-formed key, or null. */
export function apiKeyPrefix(key: string): string | null {
  return keyPattern.exec(key)?.[1] ?? null;
}

/** Compares a presented key with a stored hash in constant time. */
export function apiKeyMatches(key: string, storedHash: string): boolean {
  const presented = Buffer.from(hashApiKey(key), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/** A hash no key has; compared against when the prefix is unknown, so both paths cost the same. */
export const unknownKeyHash = hashApiKey('iq_000000000000_unknown');
