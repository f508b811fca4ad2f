import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { RateLimits } from './rateLimits.ts';
import { resolveTiers } from './tiers.ts';

const redis = new Redis(inject('redisUrl'));
// The limiters fall back to memory while the connection is not ready; these tests are about Redis.
beforeAll(async () => {
  if (redis.status !== 'ready') await once(redis, 'ready');
});
afterAll(() => redis.disconnect());

/** Two API instances sharing one Redis, as a deployment's would. */
function instances(cleanAddressMs: number) {
  const keyPrefix = `${inject('queuePrefix')}:rl-${randomUUID()}`;
  const make = () => new RateLimits({ redis, tiers: resolveTiers(undefined), keyPrefix, authFailures: { points: 2, durationSeconds: 60 }, cleanAddressMs });
  return [make(), make()] as const;
}

describe('the failed-authentication check per address', () => {
  it('takes an address seen clean as clean for cleanAddressMs, then sees the failures another instance counted', async () => {
    const [here, there] = instances(300);
    const address = '192.0.2.10';
    expect((await here.checkAddress(address)).allowed).toBe(true);
    await there.recordAuthFailure(address);
    await there.recordAuthFailure(address);
    expect((await there.checkAddress(address)).allowed).toBe(false);
    // Still clean here until the entry ends: no Redis read for it.
    expect((await here.checkAddress(address)).allowed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const decision = await here.checkAddress(address);
    expect(decision).toMatchObject({ allowed: false, remaining: 0 });
    expect(decision.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('forgets an address as soon as this instance counts a failure for it', async () => {
    const [here] = instances(60_000);
    const address = '192.0.2.11';
    expect((await here.checkAddress(address)).allowed).toBe(true);
    await here.recordAuthFailure(address);
    await here.recordAuthFailure(address);
    expect((await here.checkAddress(address)).allowed).toBe(false);
  });

  it('asks Redis every time with cleanAddressMs 0', async () => {
    const [here, there] = instances(0);
    const address = '192.0.2.12';
    expect((await here.checkAddress(address)).allowed).toBe(true);
    await there.recordAuthFailure(address);
    await there.recordAuthFailure(address);
    expect((await here.checkAddress(address)).allowed).toBe(false);
  });
});
