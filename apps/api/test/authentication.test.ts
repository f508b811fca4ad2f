import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { createTestUser } from '@inferq/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

describe('API keys', () => {
  it.each([
    ['no Authorization header', undefined],
    ['a non-Bearer scheme', 'Basic dXNlcjpwYXNz'],
    ['a malformed key', 'Bearer not-a-key'],
    ['an unknown key of the right shape', 'Bearer iq_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
  ])('answers 401 UNAUTHENTICATED for %s', async (_name, authorization) => {
    const response = await fetch(`${api.baseUrl}/v1/jobs/5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11`, {
      headers: authorization ? { authorization } : {},
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect((await response.json()).error.code).toBe('UNAUTHENTICATED');
  });

  it.each(['bearer', 'BEARER', 'BeArEr'])('takes the scheme in any case (RFC 7235): %s', async (scheme) => {
    const response = await fetch(`${api.baseUrl}/v1/jobs`, { headers: { authorization: `${scheme} ${api.user.key}` } });
    expect(response.status).toBe(200);
  });

  it("writes the key's last use (the admin views show it)", async () => {
    const user = await createTestUser(inject('databaseUrl'));
    expect((await api.deps.db.apiKey.findUniqueOrThrow({ where: { id: user.keyId } })).lastUsedAt).toBeNull();
    const before = Date.now();
    expect((await fetch(`${api.baseUrl}/v1/jobs`, { headers: user.headers })).status).toBe(200);
    let lastUsedAt: Date | null = null;
    for (let i = 0; i < 200 && !lastUsedAt; i++) {
      lastUsedAt = (await api.deps.db.apiKey.findUniqueOrThrow({ where: { id: user.keyId } })).lastUsedAt;
      if (!lastUsedAt) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(lastUsedAt?.getTime()).toBeGreaterThanOrEqual(before - 1000);
  });

  it('stores only a hash of the key', async () => {
    const row = await api.deps.db.apiKey.findUniqueOrThrow({ where: { id: api.user.keyId } });
    expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    // The secret is everything after the public prefix; it may itself contain '_'.
    expect(JSON.stringify(row)).not.toContain(api.user.key.slice(row.prefix.length + 1));
  });

  it('stops a revoked key on its next request', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const before = await fetch(`${api.baseUrl}/v1/jobs/5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11`, {
      headers: user.headers,
    });
    expect(before.status).toBe(404);
    expect(await api.deps.accounts.revokeKey(user.keyId)).toBe(true);
    const after = await fetch(`${api.baseUrl}/v1/jobs/5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11`, { headers: user.headers });
    expect(after.status).toBe(401);
    expect((await after.json()).error.code).toBe('UNAUTHENTICATED');
  });

  it("answers 404 JOB_NOT_FOUND for another user's job", async () => {
    const submitted = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: api.user.headers,
      body: imageForm(await validJpeg(64, 64)),
    });
    expect(submitted.status).toBe(202);
    const { id } = await submitted.json();
    const other = await createTestUser(inject('databaseUrl'));
    const response = await fetch(`${api.baseUrl}/v1/jobs/${id}`, { headers: other.headers });
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('JOB_NOT_FOUND');
    const own = await fetch(`${api.baseUrl}/v1/jobs/${id}`, { headers: api.user.headers });
    expect(own.status).toBe(200);
  });

  it('leaves health and readiness open', async () => {
    expect((await fetch(`${api.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${api.baseUrl}/readyz`)).status).toBe(200);
  });
});
