import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountStore, tierNames } from '@inferq/accounts';
import { createDatabase, type Database } from '@inferq/db';
import type { PlatformProcess } from '@inferq/testing';
import { createTestUser, platformEnv, startApiProcess, stopAll } from './platform.ts';

/**
 * The API process keeps recently authenticated keys in memory; a change made elsewhere (here, as
 * the admin CLI makes it: straight to Postgres) reaches it through the accounts notification.
 */
describe('a key changed outside the API process', () => {
  let api: PlatformProcess | undefined;
  let baseUrl = '';
  let db: Database;
  let accounts: AccountStore;
  const env = platformEnv();

  beforeAll(async () => {
    const started = await startApiProcess(env);
    api = started.process;
    baseUrl = started.baseUrl;
    db = createDatabase({ url: env.databaseUrl, poolSize: 1 });
    accounts = new AccountStore(db, { tiers: tierNames });
  }, 120_000);

  afterAll(async () => {
    await stopAll([api]);
    await db?.$disconnect();
  });

  async function statusOf(headers: Record<string, string>): Promise<number> {
    return (await fetch(`${baseUrl}/v1/jobs`, { headers })).status;
  }

  async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
    const started = Date.now();
    while (!(await check())) {
      if (Date.now() - started > ms) throw new Error(`not seen within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return Date.now() - started;
  }

  it('stops working within a second of its revocation, and a tier change is seen as soon', async () => {
    const user = await createTestUser(env.databaseUrl);
    // Authenticated (and so remembered) several times first.
    for (let i = 0; i < 3; i++) expect(await statusOf(user.headers)).toBe(200);
    const tierOf = async () =>
      (await (await fetch(`${baseUrl}/v1/account`, { headers: user.headers })).json()).tier.name as string;
    expect(await tierOf()).toBe('free');
    await accounts.setTier(user.userId, 'pro');
    await within(1000, async () => (await tierOf()) === 'pro');

    expect(await accounts.revokeKey(user.keyId)).toBe(true);
    await within(1000, async () => (await statusOf(user.headers)) === 401);
    // And stays refused.
    for (let i = 0; i < 3; i++) expect(await statusOf(user.headers)).toBe(401);
  });
});
