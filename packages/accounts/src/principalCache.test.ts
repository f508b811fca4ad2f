import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, sqlPool } from '@inferq/db';
import { AccountStore } from './accountStore.ts';
import { accountChangesChannel, AccountChanges, PrincipalCache } from './principalCache.ts';
import { tierNames } from './tiers.ts';

const db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
// The API's store (with the cache) and another process's (the admin CLI's: no cache).
const cache = new PrincipalCache();
const changes = new AccountChanges({ url: inject('databaseUrl'), cache, reconnectMs: 50 });
const cached = new AccountStore(db, { tiers: tierNames, principals: cache });
const elsewhere = new AccountStore(db, { tiers: tierNames });

beforeAll(() => changes.start());
afterAll(async () => {
  await changes.stop();
  await db.$disconnect();
});

async function newKey(tier = 'free') {
  const user = await elsewhere.createUser({ email: `cache-${randomUUID()}@test.inferq`, tier });
  return { user, issued: await elsewhere.issueKey(user.id) };
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Runs `write` with the notify triggers off, so that only the cache can explain what authenticate answers. */
async function silently(write: () => Promise<unknown>): Promise<void> {
  const pool = sqlPool(db);
  await pool.query('ALTER TABLE api_keys DISABLE TRIGGER USER');
  try {
    await write();
  } finally {
    await pool.query('ALTER TABLE api_keys ENABLE TRIGGER USER');
  }
}

describe('PrincipalCache with AccountChanges', () => {
  it('serves a key seen before without reading Postgres', async () => {
    expect(cache.enabled).toBe(true);
    const { user, issued } = await newKey();
    expect(await cached.authenticate(issued.key)).toMatchObject({ userId: user.id, tier: 'free' });
    // Revoked with no notification: the uncached store sees it, the cached one still answers from memory.
    await silently(() => sqlPool(db).query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [issued.id]));
    expect(await elsewhere.authenticate(issued.key)).toBeNull();
    expect(await cached.authenticate(issued.key)).toMatchObject({ userId: user.id });
  });

  it('drops a key revoked by another process as soon as the notification arrives', async () => {
    const { issued } = await newKey();
    expect(await cached.authenticate(issued.key)).not.toBeNull();
    expect(await elsewhere.revokeKey(issued.id)).toBe(true);
    await eventually(async () => (await cached.authenticate(issued.key)) === null);
  });

  it('drops the keys of a user another process disabled, and takes them again once enabled', async () => {
    const { user, issued } = await newKey();
    const second = await elsewhere.issueKey(user.id);
    expect(await cached.authenticate(issued.key)).not.toBeNull();
    expect(await cached.authenticate(second.key)).not.toBeNull();
    expect((await elsewhere.setDisabled(user.id, true))?.disabledAt).toBeInstanceOf(Date);
    await eventually(async () => (await cached.authenticate(issued.key)) === null);
    expect(await cached.authenticate(second.key)).toBeNull();
    expect((await elsewhere.setDisabled(user.id, false))?.disabledAt).toBeNull();
    await eventually(async () => (await cached.authenticate(issued.key)) !== null);
  });

  it('sees a tier change made by another process, and by itself at once', async () => {
    const { user, issued } = await newKey('free');
    expect((await cached.authenticate(issued.key))?.tier).toBe('free');
    await elsewhere.setTier(user.id, 'pro');
    await eventually(async () => (await cached.authenticate(issued.key))?.tier === 'pro');
    // Its own change needs no notification: the next request already sees it.
    await cached.setTier(user.id, 'free');
    expect((await cached.authenticate(issued.key))?.tier).toBe('free');
    expect(await cached.revokeKey(issued.id)).toBe(true);
    expect(await cached.authenticate(issued.key)).toBeNull();
  });

  it('notifies nothing for changes that do not decide who a key is (last use, webhook secret)', async () => {
    const { user, issued } = await newKey();
    const listener = new pg.Client({ connectionString: inject('databaseUrl') });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (message) => heard.push(message.payload ?? ''));
    await listener.query(`LISTEN ${accountChangesChannel}`);
    try {
      await sqlPool(db).query('UPDATE api_keys SET last_used_at = now(), name = $2 WHERE id = $1', [
        issued.id,
        'renamed',
      ]);
      await elsewhere.rotateWebhookSecret(user.id);
      // Then changes that do notify: once they are heard, the two before them were not.
      await elsewhere.setTier(user.id, 'pro');
      await elsewhere.revokeKey(issued.id);
      await eventually(async () => heard.includes(`api_keys:${issued.id}`));
      const ours = heard.filter((payload) => payload.endsWith(user.id) || payload.endsWith(issued.id));
      expect(ours).toEqual([`users:${user.id}`, `api_keys:${issued.id}`]);
    } finally {
      await listener.end();
    }
  });

  it('turns itself off while the connection is down and back on once it listens again', async () => {
    const { user, issued } = await newKey();
    expect(await cached.authenticate(issued.key)).not.toBeNull();
    await sqlPool(db).query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'inferq-account-changes' AND datname = current_database()`,
    );
    await eventually(async () => !cache.enabled);
    // A revocation it could not hear of is seen, because every lookup reads Postgres now.
    await silently(() => sqlPool(db).query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [issued.id]));
    expect(await cached.authenticate(issued.key)).toBeNull();
    await eventually(async () => cache.enabled);
    const again = await elsewhere.issueKey(user.id);
    expect(await cached.authenticate(again.key)).toMatchObject({ userId: user.id });
  });

  it('never stores the result of a lookup that a change overtook', () => {
    const local = new PrincipalCache();
    local.enable();
    const principal = {
      userId: randomUUID(),
      email: 'a@test.inferq',
      role: 'user' as const,
      tier: 'free',
      keyId: randomUUID(),
    };
    const before = local.generation;
    local.clear();
    local.set('hash', principal, before);
    expect(local.get('hash')).toBeUndefined();
    local.set('hash', principal, local.generation);
    expect(local.get('hash')).toEqual(principal);
    local.disable();
    expect(local.get('hash')).toBeUndefined();
  });
});
