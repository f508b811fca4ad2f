import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { RateLimits } from '../src/rateLimits.ts';
import { resolveTiers } from '@inferq/accounts';

const redis = new Redis(inject('redisUrl'));
// The limiters fall back to memory while the connection is not ready; these tests are about Redis.
beforeAll(async () => {
  if (redis.status !== 'ready') await once(redis, 'ready');
});
afterAll(() => redis.disconnect());

/** Two API instances sharing one Redis, as a deployment's would. */
function instances() {
  const keyPrefix = `${inject('queuePrefix')}:rl-${randomUUID()}`;
  const make = () =>
    new RateLimits({
      redis,
      tiers: resolveTiers(undefined),
      keyPrefix,
      authFailures: { points: 2, durationSeconds: 60 },
    });
  return [make(), make()] as const;
}

describe('the failed-authentication count per address', () => {
  it('allows points failures, then refuses the address with a retry time; the count is shared by every instance', async () => {
    const [here, there] = instances();
    const address = '192.0.2.10';
    expect(await here.recordAuthFailure(address)).toMatchObject({ allowed: true, limit: 2, remaining: 1 });
    expect(await there.recordAuthFailure(address)).toMatchObject({ allowed: true, remaining: 0 });
    const refused = await here.recordAuthFailure(address);
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((await there.recordAuthFailure(address)).allowed).toBe(false);
    // Another address is not touched.
    expect((await here.recordAuthFailure('192.0.2.11')).allowed).toBe(true);
  });
});
