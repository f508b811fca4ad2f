import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';

let api: TestApi;
let admin: TestUser;

beforeAll(async () => {
  api = await startTestApi();
  admin = await createTestUser(inject('databaseUrl'), { role: 'admin', tier: 'pro' });
});
afterAll(async () => {
  await api?.close();
});

async function call(
  user: TestUser | { headers: Record<string, string> },
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: { ...user.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
}

const someId = '5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11';

describe('admin routes', () => {
  it.each([
    ['GET', '/v1/admin/users', undefined],
    ['POST', '/v1/admin/users', { email: 'x@test.inferq' }],
    ['GET', `/v1/admin/users/${someId}`, undefined],
    ['PATCH', `/v1/admin/users/${someId}`, { tier: 'pro' }],
    ['GET', `/v1/admin/users/${someId}/keys`, undefined],
    ['POST', `/v1/admin/users/${someId}/keys`, {}],
    ['POST', `/v1/admin/keys/${someId}/revoke`, undefined],
    ['GET', '/v1/admin/jobs', undefined],
    ['GET', '/v1/admin/tiers', undefined],
  ])('answer 403 FORBIDDEN to a user: %s %s', async (method, path, body) => {
    const answer = await call(api.user, method, path, body);
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('FORBIDDEN');
  });

  it('answer 401 without a key', async () => {
    const answer = await call({ headers: {} }, 'GET', '/v1/admin/users');
    expect(answer.status).toBe(401);
  });

  it('create a user whose first key works at once', async () => {
    const email = `new-${randomUUID()}@test.inferq`;
    const created = await call(admin, 'POST', '/v1/admin/users', { email, tier: 'pro', name: 'New User' });
    expect(created.status).toBe(201);
    expect(created.body.user).toMatchObject({ email, tier: 'pro', role: 'user', name: 'New User', disabledAt: null });
    expect(created.body.apiKey.key).toMatch(/^iq_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.body.apiKey.userId).toBe(created.body.user.id);
    expect(created.headers.get('location')).toBe(`/v1/admin/users/${created.body.user.id}`);

    const asNewUser = await call(
      { headers: { authorization: `Bearer ${created.body.apiKey.key}` } },
      'GET',
      '/v1/jobs',
    );
    expect(asNewUser.status).toBe(200);
    expect(asNewUser.body).toEqual({ data: [], nextCursor: null });

    const again = await call(admin, 'POST', '/v1/admin/users', { email });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('CONFLICT');
  });

  it.each([
    ['no email', {}],
    ['a malformed email', { email: 'not-an-email' }],
    ['an unknown role', { email: 'a@test.inferq', role: 'root' }],
    ['an unknown field', { email: 'a@test.inferq', credits: 5 }],
    ['an unknown tier', { email: `t-${randomUUID()}@test.inferq`, tier: 'platinum' }],
  ])('refuse a user body with %s: 400 VALIDATION_FAILED', async (_name, body) => {
    const answer = await call(admin, 'POST', '/v1/admin/users', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('list users with their jobs in flight, and show one with its keys', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: user.headers,
      body: imageForm(await validJpeg(64, 64)),
    });
    const listed = await call(admin, 'GET', '/v1/admin/users');
    expect(listed.status).toBe(200);
    const entry = listed.body.data.find((candidate: { id: string }) => candidate.id === user.userId);
    expect(entry).toMatchObject({ email: user.email, tier: 'free', role: 'user', jobsInFlight: 1 });
    expect(JSON.stringify(listed.body)).not.toContain('whsec_');

    for (const ref of [user.userId, encodeURIComponent(user.email)]) {
      const detail = await call(admin, 'GET', `/v1/admin/users/${ref}`);
      expect(detail.status).toBe(200);
      expect(detail.body.user).toMatchObject({ id: user.userId, jobsInFlight: 1 });
      expect(detail.body.keys).toEqual([expect.objectContaining({ id: user.keyId, revokedAt: null })]);
      expect(JSON.stringify(detail.body)).not.toContain(user.key);
    }
    for (const missing of [someId, 'nobody@test.inferq', 'not-an-id']) {
      const answer = await call(admin, 'GET', `/v1/admin/users/${missing}`);
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe('NOT_FOUND');
    }
  });

  it("change a user's tier, effective on their next request", async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const before = await fetch(`${api.baseUrl}/v1/jobs`, { headers: user.headers });
    expect(before.headers.get('ratelimit-limit')).toBe('600');
    const changed = await call(admin, 'PATCH', `/v1/admin/users/${user.userId}`, { tier: 'pro' });
    expect(changed.status).toBe(200);
    expect(changed.body.user.tier).toBe('pro');
    const after = await fetch(`${api.baseUrl}/v1/jobs`, { headers: user.headers });
    expect(after.headers.get('ratelimit-limit')).toBe('6000');
    expect((await call(admin, 'PATCH', `/v1/admin/users/${user.userId}`, { tier: 'gold' })).status).toBe(400);
  });

  it('issue and revoke keys; a revoked key stops at once', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const issued = await call(admin, 'POST', `/v1/admin/users/${user.userId}/keys`, { name: 'ci' });
    expect(issued.status).toBe(201);
    const secondKey = { headers: { authorization: `Bearer ${issued.body.key}` } };
    expect((await call(secondKey, 'GET', '/v1/jobs')).status).toBe(200);

    const keys = await call(admin, 'GET', `/v1/admin/users/${user.userId}/keys`);
    expect(keys.body.data.map((key: { name: string | null }) => key.name).sort()).toEqual(['ci', 'test']);

    const revoked = await call(admin, 'POST', `/v1/admin/keys/${issued.body.prefix}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: issued.body.id, prefix: issued.body.prefix });
    expect(revoked.body.revokedAt).not.toBeNull();
    expect((await call(secondKey, 'GET', '/v1/jobs')).status).toBe(401);
    expect((await call(user, 'GET', '/v1/jobs')).status).toBe(200);

    expect((await call(admin, 'POST', `/v1/admin/keys/${issued.body.id}/revoke`)).status).toBe(200);
    expect((await call(admin, 'POST', `/v1/admin/keys/${someId}/revoke`)).status).toBe(404);
    expect((await call(admin, 'POST', '/v1/admin/keys/garbage/revoke')).status).toBe(404);
  });

  it("list every user's jobs, filtered by user and status, with the owner", async () => {
    const [a, b] = [await createTestUser(inject('databaseUrl')), await createTestUser(inject('databaseUrl'))];
    for (const user of [a, b]) {
      await fetch(`${api.baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: user.headers,
        body: imageForm(await validJpeg(64, 64)),
      });
    }
    const all = await call(admin, 'GET', '/v1/admin/jobs?limit=100');
    expect(all.status).toBe(200);
    const owners = new Set(all.body.data.map((job: { userId: string }) => job.userId));
    expect(owners.has(a.userId) && owners.has(b.userId)).toBe(true);

    const onlyA = await call(admin, 'GET', `/v1/admin/jobs?userId=${a.userId}&status=queued`);
    expect(onlyA.body.data).toHaveLength(1);
    expect(onlyA.body.data[0]).toMatchObject({ userId: a.userId, status: 'queued' });
    expect((await call(admin, 'GET', '/v1/admin/jobs?userId=nope')).status).toBe(400);
  });

  it('list the tiers', async () => {
    const tiers = await call(admin, 'GET', '/v1/admin/tiers');
    expect(tiers.status).toBe(200);
    expect(tiers.body.data.map((tier: { name: string }) => tier.name)).toEqual(['free', 'pro']);
    expect(tiers.body.data[0]).toMatchObject({ maxJobsInFlight: 200, priority: 10 });
  });
});
