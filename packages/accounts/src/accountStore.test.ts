import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, sqlPool } from '@inferq/db';
import { AccountStore } from './accountStore.ts';
import { tierNames } from './tiers.ts';

const db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
const accounts = new AccountStore(db, { tiers: tierNames });
afterAll(() => db.$disconnect());

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function lastUsedAt(keyId: string): Promise<Date | null> {
  return (await db.apiKey.findUniqueOrThrow({ where: { id: keyId } })).lastUsedAt;
}

describe('api_keys.last_used_at', () => {
  it('is written on a successful authentication, then at most once per interval', async () => {
    const store = new AccountStore(db, { tiers: tierNames, lastUsedIntervalMs: 400 });
    const user = await store.createUser({ email: `used-${randomUUID()}@test.inferq` });
    const issued = await store.issueKey(user.id);
    expect(await lastUsedAt(issued.id)).toBeNull();
    expect(await store.authenticate(issued.key)).not.toBeNull();
    await eventually(async () => (await lastUsedAt(issued.id)) !== null);
    const first = await lastUsedAt(issued.id);
    // Within the interval: many requests, no write.
    for (let i = 0; i < 5; i++) await store.authenticate(issued.key);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await lastUsedAt(issued.id)).toEqual(first);
    // Past it, the next request writes again.
    await new Promise((resolve) => setTimeout(resolve, 400));
    await store.authenticate(issued.key);
    await eventually(async () => (await lastUsedAt(issued.id))!.getTime() > first!.getTime());
  });

  it('is not written for a failed authentication (a revoked key)', async () => {
    const user = await accounts.createUser({ email: `unused-${randomUUID()}@test.inferq` });
    const issued = await accounts.issueKey(user.id);
    await accounts.revokeKey(issued.id);
    expect(await accounts.authenticate(issued.key)).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await lastUsedAt(issued.id)).toBeNull();
  });
});

describe('emails', () => {
  it('are stored in lower case and found in any case; another case of one is the same account', async () => {
    const local = `Case-${randomUUID()}`;
    const user = await accounts.createUser({ email: ` ${local}@Example.COM ` });
    expect(user.email).toBe(`${local.toLowerCase()}@example.com`);
    expect((await accounts.findUser(`${local.toUpperCase()}@EXAMPLE.com`))?.id).toBe(user.id);
    await expect(accounts.createUser({ email: `${local.toUpperCase()}@example.com` })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('the migration lower-cases older rows but leaves accounts that differ only in case apart, and lists them', async () => {
    const lone = `Lone-${randomUUID()}@Test.Inferq`;
    const twin = `twin-${randomUUID()}@test.inferq`;
    // Rows as written before emails were normalized.
    const rows = [lone, twin, twin.toUpperCase()];
    const ids: string[] = [];
    // A second apart, so their order (oldest first) does not hang on the clock's millisecond.
    const start = Date.now();
    for (const [index, email] of rows.entries()) {
      const createdAt = new Date(start + index * 1000);
      ids.push((await db.user.create({ data: { email, webhookSecret: 'whsec_test', createdAt } })).id);
    }
    const migration = await readFile(
      path.join(import.meta.dirname, '../../../prisma/migrations/20261206030000_emails_lower_case/migration.sql'),
      'utf8',
    );
    await sqlPool(db).query(migration);

    const after = await db.user.findMany({ where: { id: { in: ids } }, select: { id: true, email: true } });
    const emailOf = (id: string) => after.find((row) => row.id === id)?.email;
    expect(emailOf(ids[0]!)).toBe(lone.toLowerCase());
    // The twins are two accounts: neither merged nor renamed.
    expect([emailOf(ids[1]!), emailOf(ids[2]!)]).toEqual([twin, twin.toUpperCase()]);
    const duplicates = await accounts.emailCaseDuplicates();
    expect(duplicates.find((group) => group.email === twin)?.users.map((user) => user.id)).toEqual([ids[1], ids[2]]);
    expect(duplicates.some((group) => group.email === lone.toLowerCase())).toBe(false);
    await db.user.deleteMany({ where: { id: { in: ids } } });
  });
});

describe('malformed ids', () => {
  it.each(['not-a-key', 'iq_xyz', "'; DROP TABLE users; --", ''])(
    'find and revoke answer "no such key" for %j without a query that fails',
    async (id) => {
      expect(await accounts.findKey(id)).toBeNull();
      expect(await accounts.revokeKey(id)).toBe(false);
    },
  );

  it.each(['not-a-uuid', '1234', ''])('findUser answers null for %j', async (id) => {
    expect(await accounts.findUser(id)).toBeNull();
  });
});
