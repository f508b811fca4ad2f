import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { createTestUser } from '@inferq/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';

let api: TestApi;
let loopbackApi: TestApi;

beforeAll(async () => {
  [api, loopbackApi] = await Promise.all([startTestApi(), startTestApi({ webhookPolicy: { allowLoopback: true } })]);
});
afterAll(async () => {
  await Promise.all([api?.close(), loopbackApi?.close()]);
});

async function submit(target: TestApi, webhook: string): Promise<Response> {
  return fetch(`${target.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: target.user.headers,
    body: imageForm(await validJpeg(64, 64), { webhook }),
  });
}

describe('POST /v1/jobs with a webhook', () => {
  it.each([
    ['plain http', 'http://hooks.example.com/inferq', 'not_https'],
    ['another scheme', 'ftp://hooks.example.com/inferq', 'not_https'],
    ['not a URL', 'hooks.example.com/inferq', 'malformed'],
    ['credentials in the URL', 'https://user:secret@hooks.example.com/', 'credentials'],
    ['loopback', 'https://127.0.0.1/hook', 'private_address'],
    ['localhost', 'https://localhost:8443/hook', 'private_address'],
    ['IPv6 loopback', 'https://[::1]/hook', 'private_address'],
    ['a private network', 'https://10.1.2.3/hook', 'private_address'],
    ['link-local (cloud metadata)', 'https://169.254.169.254/latest/meta-data', 'private_address'],
    ['IPv4-mapped IPv6 loopback', 'https://[::ffff:127.0.0.1]/hook', 'private_address'],
    ['IPv4-compatible IPv6 loopback (::/96)', 'https://[::127.0.0.1]/', 'private_address'],
    ['IPv4-compatible IPv6 in hex', 'https://[::7f00:1]/hook', 'private_address'],
    ['IPv4-compatible IPv6 of a public address', 'https://[::8.8.8.8]/hook', 'private_address'],
    ['localhost with a trailing dot', 'https://localhost./hook', 'private_address'],
    ['a localhost subdomain with a trailing dot', 'https://api.localhost.:8443/hook', 'private_address'],
    ['an over-long URL', `https://hooks.example.com/${'a'.repeat(2100)}`, 'too_long'],
    ['SSH on a public host', 'https://hooks.example.com:22/hook', 'port'],
    ['Redis on a public host', 'https://hooks.example.com:6379/hook', 'port'],
    ['a port other than 80 and 443', 'https://hooks.example.com:8443/hook', 'port'],
  ])('refuses %s with 400 INVALID_WEBHOOK_URL and stores nothing', async (_name, webhook, reason) => {
    const before = await api.deps.db.job.count();
    const response = await submit(api, webhook);
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.error.code).toBe('INVALID_WEBHOOK_URL');
    expect(body.error.details.reason).toBe(reason);
    expect(await api.deps.db.job.count()).toBe(before);
  });

  it.each<[string, Record<string, string>, number, string[] | string]>([
    [
      'started and completed, in either order',
      { webhook: 'https://hooks.example.com/a', webhookEvents: 'completed, started' },
      202,
      ['started', 'completed'],
    ],
    ['started only', { webhook: 'https://hooks.example.com/a', webhookEvents: 'started' }, 202, ['started']],
    [
      'an unknown event',
      { webhook: 'https://hooks.example.com/a', webhookEvents: 'started,output' },
      400,
      'VALIDATION_FAILED',
    ],
    ['events without a webhook', { webhookEvents: 'started' }, 400, 'VALIDATION_FAILED'],
  ])('webhookEvents: %s', async (_name, fields, status, expected) => {
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: api.user.headers,
      body: imageForm(await validJpeg(64, 64), fields),
    });
    expect(response.status).toBe(status);
    const body = await response.json();
    if (status === 202) expect(body.webhook.events).toEqual(expected);
    else expect(body.error).toMatchObject({ code: expected, details: { field: 'webhookEvents' } });
  });

  it('stores an https URL and shows it on the job with its deliveries link', async () => {
    const response = await submit(api, 'https://hooks.example.com/inferq?source=test');
    expect(response.status).toBe(202);
    const job = await response.json();
    expect(job.webhook).toEqual({
      url: 'https://hooks.example.com/inferq?source=test',
      events: ['completed'],
      deliveries: `/v1/jobs/${job.id}/deliveries`,
    });
    const row = await api.deps.db.job.findUnique({ where: { id: job.id } });
    expect(row?.webhookUrl).toBe('https://hooks.example.com/inferq?source=test');

    const deliveries = await fetch(`${api.baseUrl}${job.webhook.deliveries}`, { headers: api.user.headers });
    expect(deliveries.status).toBe(200);
    expect(await deliveries.json()).toEqual({ data: [] });
  });

  it('accepts http on loopback only where the setting allows it', async () => {
    const response = await submit(loopbackApi, 'http://127.0.0.1:9/hook');
    expect(response.status).toBe(202);
    expect((await response.json()).webhook.url).toBe('http://127.0.0.1:9/hook');
    const stillRefused = await submit(loopbackApi, 'http://10.0.0.1/hook');
    expect((await stillRefused.json()).error.code).toBe('INVALID_WEBHOOK_URL');
  });

  it("answers another user's deliveries 404 JOB_NOT_FOUND", async () => {
    const job = await (await submit(api, 'https://hooks.example.com/x')).json();
    const other = await createTestUser(inject('databaseUrl'));
    const response = await fetch(`${api.baseUrl}/v1/jobs/${job.id}/deliveries`, { headers: other.headers });
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('JOB_NOT_FOUND');
  });
});

describe('/v1/account/webhook-secret', () => {
  it('reads the secret, rotates it, and reads the new one', async () => {
    const read = async () =>
      (await (await fetch(`${api.baseUrl}/v1/account/webhook-secret`, { headers: api.user.headers })).json())
        .secret as string;
    const first = await read();
    expect(first).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const rotated = await fetch(`${api.baseUrl}/v1/account/webhook-secret`, {
      method: 'POST',
      headers: api.user.headers,
    });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    const second = (await rotated.json()).secret;
    expect(second).toMatch(/^whsec_/);
    expect(second).not.toBe(first);
    expect(await read()).toBe(second);
  });

  it('needs a key', async () => {
    const response = await fetch(`${api.baseUrl}/v1/account/webhook-secret`);
    expect(response.status).toBe(401);
    expect((await response.json()).error.code).toBe('UNAUTHENTICATED');
  });
});

describe('WEBHOOK_ALLOW_PORTS', () => {
  it('lets a webhook name a port the setting allows, and no other', async () => {
    const allowing = await startTestApi({ webhookPolicy: { allowPorts: [8443] } });
    try {
      expect((await submit(allowing, 'https://hooks.example.com:8443/hook')).status).toBe(202);
      const refused = await submit(allowing, 'https://hooks.example.com:8444/hook');
      expect({ status: refused.status, reason: (await refused.json()).error.details.reason }).toEqual({
        status: 400,
        reason: 'port',
      });
    } finally {
      await allowing.close();
    }
  });
});
