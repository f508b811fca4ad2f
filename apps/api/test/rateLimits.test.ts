import { describe, expect, inject, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { apiPerTest, imageForm, type TestApi } from './apiHarness.ts';

const start = apiPerTest();

async function submit(target: TestApi, user: TestUser): Promise<Response> {
  return fetch(`${target.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: user.headers,
    body: imageForm(await validJpeg(64, 64)),
  });
}

function limitHeaders(response: Response) {
  return {
    limit: Number(response.headers.get('ratelimit-limit')),
    remaining: Number(response.headers.get('ratelimit-remaining')),
    reset: Number(response.headers.get('ratelimit-reset')),
  };
}

describe('per-user rate limits', () => {
  it('answers the N+1th submission with 429 RATE_LIMITED, Retry-After and RateLimit headers; successes carry them too', async () => {
    const target = await start({
      tierOverrides: { free: { submitsPerWindow: 3, submitBurst: 0, rateWindowSeconds: 60 } },
    });
    const seen: Array<{ status: number; limit: number; remaining: number }> = [];
    for (let i = 0; i < 3; i++) {
      const response = await submit(target, target.user);
      const { limit, remaining, reset } = limitHeaders(response);
      seen.push({ status: response.status, limit, remaining });
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
    }
    expect(seen).toEqual([
      { status: 202, limit: 3, remaining: 2 },
      { status: 202, limit: 3, remaining: 1 },
      { status: 202, limit: 3, remaining: 0 },
    ]);

    const rowsBefore = await target.deps.db.job.count({ where: { userId: target.user.userId } });
    const refused = await submit(target, target.user);
    expect(refused.status).toBe(429);
    expect((await refused.json()).error.code).toBe('RATE_LIMITED');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limitHeaders(refused)).toMatchObject({ limit: 3, remaining: 0 });
    expect(limitHeaders(refused).reset).toBeGreaterThanOrEqual(1);
    expect(await target.deps.db.job.count({ where: { userId: target.user.userId } })).toBe(rowsBefore);

    // Per user, not per address: another user from the same address still submits.
    const other = await createTestUser(inject('databaseUrl'));
    expect((await submit(target, other)).status).toBe(202);
  });

  it('allows the burst on top of the sustained rate, then refuses', async () => {
    const target = await start({
      tierOverrides: { free: { submitsPerWindow: 2, submitBurst: 2, burstWindowSeconds: 600 } },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await submit(target, target.user)).status);
    expect(statuses).toEqual([202, 202, 202, 202, 429]);
  });

  it('keeps submissions and other requests in separate budgets', async () => {
    const target = await start({ tierOverrides: { free: { requestsPerWindow: 2 } } });
    const list = () => fetch(`${target.baseUrl}/v1/jobs`, { headers: target.user.headers });
    expect((await list()).status).toBe(200);
    const second = await list();
    expect(second.status).toBe(200);
    expect(limitHeaders(second)).toMatchObject({ limit: 2, remaining: 0 });
    const third = await list();
    expect(third.status).toBe(429);
    expect((await third.json()).error.code).toBe('RATE_LIMITED');
    // The submit budget is untouched.
    const submitted = await submit(target, target.user);
    expect(submitted.status).toBe(202);
    expect(limitHeaders(submitted).limit).toBe(60);
  });

  it("applies a tier change on the user's next request", async () => {
    const target = await start({ tierOverrides: { free: { requestsPerWindow: 2 } } });
    const list = () => fetch(`${target.baseUrl}/v1/jobs`, { headers: target.user.headers });
    await list();
    await list();
    expect((await list()).status).toBe(429);
    await target.deps.accounts.setTier(target.user.userId, 'pro');
    const after = await list();
    expect(after.status).toBe(200);
    expect(limitHeaders(after).limit).toBe(6000);
  });
});

describe('failed authentication per address', () => {
  it('answers an address 429 once it failed too often, yet a valid key from it still passes', async () => {
    const target = await start({ authFailuresPerMinute: 3 });
    const bad = { authorization: 'Bearer iq_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
    const url = `${target.baseUrl}/v1/jobs`;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(url, { headers: bad })).status);
    expect(statuses).toEqual([401, 401, 401]);

    const refused = await fetch(url, { headers: bad });
    expect(refused.status).toBe(429);
    expect((await refused.json()).error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('ratelimit-limit'))).toBe(3);
    expect(Number(refused.headers.get('ratelimit-remaining'))).toBe(0);
    // Keyless and malformed attempts from the locked address are refused too.
    expect((await fetch(url)).status).toBe(429);
    expect((await fetch(url, { headers: { authorization: 'Bearer not-a-key' } })).status).toBe(429);

    // A valid key from the same address passes, held only to its own per-user limits.
    const valid = await fetch(url, { headers: target.user.headers });
    expect(valid.status).toBe(200);
    expect(Number(valid.headers.get('ratelimit-limit'))).toBe(600);
    const admin = await createTestUser(inject('databaseUrl'), { role: 'admin', tier: 'pro' });
    expect((await fetch(`${target.baseUrl}/v1/admin/users`, { headers: admin.headers })).status).toBe(200);
    // And the address stays locked for bad keys.
    expect((await fetch(url, { headers: bad })).status).toBe(429);
  });

  it('does not count successful requests against the address', async () => {
    const target = await start({ authFailuresPerMinute: 2 });
    for (let i = 0; i < 5; i++) {
      expect((await fetch(`${target.baseUrl}/v1/jobs`, { headers: target.user.headers })).status).toBe(200);
    }
  });
});
