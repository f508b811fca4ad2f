import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { createDatabase } from '@inferq/db';
import { AccountStore } from './accountStore.ts';
import { requireSecretKeysInProduction, SecretBox, secretKeysEnvSchema, type SecretKey } from './secretBox.ts';

const db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
afterAll(() => db.$disconnect());

const k1: SecretKey = { id: 'k1', key: randomBytes(32) };
const k2: SecretKey = { id: 'k2', key: randomBytes(32) };
const store = (...keys: SecretKey[]) => new AccountStore(db, { tiers: ['free'], secrets: new SecretBox(keys) });
const stored = async (userId: string) => (await db.user.findUniqueOrThrow({ where: { id: userId } })).webhookSecret;
const newUser = (accounts: AccountStore) =>
  accounts.createUser({ email: `secret-${randomBytes(6).toString('hex')}@test.inferq` });

describe('webhook secrets at rest', () => {
  it('are stored sealed with the current key, never in clear, and read back', async () => {
    const accounts = store(k1);
    const user = await newUser(accounts);
    const secret = (await accounts.webhookSecret(user.id))!;
    expect(secret).toMatch(/^whsec_/);
    const row = await stored(user.id);
    expect(row.startsWith('enc1:k1:')).toBe(true);
    expect(row.includes(secret.slice(6))).toBe(false);

    const rotated = await accounts.rotateWebhookSecret(user.id);
    expect(rotated).not.toBe(secret);
    expect(await accounts.webhookSecret(user.id)).toBe(rotated);
    expect((await stored(user.id)).startsWith('enc1:k1:')).toBe(true);
  });

  it('rotate keys: a new key first, the old one still opens, reencrypt moves every secret, then the old key can go', async () => {
    const user = await newUser(store(k1));
    const secret = await store(k1).webhookSecret(user.id);
    const both = store(k2, k1);
    expect(await both.webhookSecret(user.id)).toBe(secret);
    expect(await both.reencryptWebhookSecrets({ userIds: [user.id] })).toEqual({ reencrypted: 1, users: 1 });
    expect((await stored(user.id)).startsWith('enc1:k2:')).toBe(true);
    // Again: nothing left to move.
    expect(await both.reencryptWebhookSecrets({ userIds: [user.id] })).toEqual({ reencrypted: 0, users: 1 });
    expect(await store(k2).webhookSecret(user.id)).toBe(secret);
    await expect(store(k1).webhookSecret(user.id)).rejects.toThrow(/not configured/);
  });

  it('reads a secret stored in clear (before encryption, or without a key), and reencrypt seals it', async () => {
    const clear = store();
    const user = await newUser(clear);
    const secret = (await clear.webhookSecret(user.id))!;
    expect(await stored(user.id)).toBe(secret);
    expect(await store(k1).webhookSecret(user.id)).toBe(secret);
    expect(await store(k1).reencryptWebhookSecrets({ userIds: [user.id] })).toEqual({ reencrypted: 1, users: 1 });
    expect((await stored(user.id)).startsWith('enc1:k1:')).toBe(true);
    expect(await store(k1).webhookSecret(user.id)).toBe(secret);
  });

  it("does not open one user's sealed secret copied onto another user's row", async () => {
    const accounts = store(k1);
    const [a, b] = [await newUser(accounts), await newUser(accounts)];
    await db.user.update({ where: { id: b.id }, data: { webhookSecret: await stored(a.id) } });
    await expect(accounts.webhookSecret(b.id)).rejects.toThrow();
  });

  it('does not open a tampered ciphertext', () => {
    const box = new SecretBox([k1]);
    const sealed = box.seal('whsec_abc', 'row');
    // One bit of the ciphertext flipped.
    const parts = sealed.split(':');
    const bytes = Buffer.from(parts[3]!, 'base64url');
    bytes[0]! ^= 1;
    const flipped = [...parts.slice(0, 3), bytes.toString('base64url')].join(':');
    expect(box.open(sealed, 'row')).toBe('whsec_abc');
    expect(() => box.open(flipped, 'row')).toThrow();
  });
});

describe('WEBHOOK_SECRET_KEYS', () => {
  const schema = z
    .object({ NODE_ENV: z.string(), WEBHOOK_SECRET_KEYS: secretKeysEnvSchema.optional() })
    .superRefine(requireSecretKeysInProduction);
  const key = randomBytes(32).toString('base64');

  it('takes id:base64 pairs, the current key first', () => {
    const parsed = schema.parse({
      NODE_ENV: 'production',
      WEBHOOK_SECRET_KEYS: `k2:${key}, k1:${randomBytes(32).toString('base64')}`,
    });
    expect(parsed.WEBHOOK_SECRET_KEYS?.map((entry) => entry.id)).toEqual(['k2', 'k1']);
  });

  it.each([
    ['a key of 16 bytes', { NODE_ENV: 'development', WEBHOOK_SECRET_KEYS: `k1:${randomBytes(16).toString('base64')}` }],
    ['a key without an id', { NODE_ENV: 'development', WEBHOOK_SECRET_KEYS: key }],
    ['the same id twice', { NODE_ENV: 'development', WEBHOOK_SECRET_KEYS: `k1:${key},k1:${key}` }],
    ['no key in production', { NODE_ENV: 'production' }],
  ])('refuses %s', (_case, env) => {
    expect(schema.safeParse(env).success).toBe(false);
  });

  it('may be left out in development: secrets are then stored in clear', () => {
    expect(schema.parse({ NODE_ENV: 'development' }).WEBHOOK_SECRET_KEYS).toBeUndefined();
    expect(new SecretBox().seal('whsec_abc', 'row')).toBe('whsec_abc');
  });
});
