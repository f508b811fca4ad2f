import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ModelRegistry, readModelFiles, readModelManifest } from '@inferq/models';
import { createTestUser } from '@inferq/testing';
import { mnistFixtureFolder } from '@inferq/training';
import { parseApiEnv } from '../src/env.ts';
import { apiPerTest, type TestApi } from './apiHarness.ts';

/**
 * Findings of a red-team pass that are not about models or images: client addresses behind
 * proxies, list cursors outside the database's range, secrets in logged URLs, and settings that
 * must fail at start. Each is a real request against the real API (or a real start-up parse).
 */

const start = apiPerTest();
const badKey = { authorization: 'Bearer iq_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };

async function status(
  target: TestApi,
  headers: Record<string, string>,
): Promise<{ status: number; code: string | undefined }> {
  const response = await fetch(`${target.baseUrl}/v1/jobs`, { headers });
  const body = (await response.json()) as { error?: { code: string } };
  return { status: response.status, code: body.error?.code };
}

describe('client addresses and the failed-authentication limit', () => {
  it('with no proxy trusted (the default), a forged X-Forwarded-For changes nothing: the TCP peer is the client', async () => {
    const target = await start({ authFailuresPerMinute: 3 });
    for (let i = 0; i < 3; i++)
      expect(await status(target, { ...badKey, 'x-forwarded-for': `203.0.113.${i}` })).toEqual({
        status: 401,
        code: 'UNAUTHENTICATED',
      });
    // A fresh forged address does not get past the limit.
    expect(await status(target, { ...badKey, 'x-forwarded-for': '203.0.113.77' })).toEqual({
      status: 429,
      code: 'RATE_LIMITED',
    });
  });

  // Behind one proxy (TRUST_PROXY=1): the proxy appends the address it saw, the API takes the last
  // entry. Here the test plays the proxy: "<what the client wrote>, <the client's real address>".
  it('behind one proxy (trust 1 hop), forged entries can neither get past the limit nor aim it at another address', async () => {
    const target = await start({ authFailuresPerMinute: 3, trustProxy: 1 });
    const attacker = '198.51.100.7';
    const victim = '198.51.100.9';
    for (let i = 0; i < 3; i++) {
      // Each time a different forged address, and once the victim's.
      const forged = i === 0 ? victim : `203.0.113.${i}`;
      expect(await status(target, { ...badKey, 'x-forwarded-for': `${forged}, ${attacker}` })).toEqual({
        status: 401,
        code: 'UNAUTHENTICATED',
      });
    }
    // No bypass: the attacker's real address is over the limit whatever it forges.
    expect(await status(target, { ...badKey, 'x-forwarded-for': `192.0.2.1, ${attacker}` })).toEqual({
      status: 429,
      code: 'RATE_LIMITED',
    });
    // No targeting: the victim, whose address the attacker wrote, is not limited.
    expect(await status(target, { ...badKey, 'x-forwarded-for': victim })).toEqual({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
    // And clients behind the same proxy do not share one address (which 30 bad keys would lock out).
    const neighbour = await createTestUser(inject('databaseUrl'));
    expect(await status(target, { ...neighbour.headers, 'x-forwarded-for': '198.51.100.8' })).toEqual({
      status: 200,
      code: undefined,
    });
  });

  it.each([
    ['true', 'true'],
    ['an address that is not one', '10.0.0.300'],
    ['a word that is no range', 'everyone'],
  ])('refuses TRUST_PROXY=%s at start', (_case, value) => {
    expect(() => parseApiEnv({ TRUST_PROXY: value })).toThrow(/TRUST_PROXY/);
  });

  it.each([
    ['', false],
    ['false', false],
    ['1', 1],
    ['2', 2],
    ['10.0.0.0/8, loopback', ['10.0.0.0/8', 'loopback']],
    ['192.0.2.10,2001:db8::/32', ['192.0.2.10', '2001:db8::/32']],
  ])('takes TRUST_PROXY=%j as %j', (value, expected) => {
    expect(parseApiEnv({ TRUST_PROXY: value }).TRUST_PROXY).toEqual(expected);
  });
});

describe('inputs that used to answer 500', () => {
  const cursor = (at: string) =>
    Buffer.from(JSON.stringify([at, '5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11'])).toString('base64url');
  it.each([
    ['a cursor dated after year 9999', '/v1/jobs', cursor('+200000-01-01T00:00:00.000Z')],
    ['a cursor dated before the Unix epoch era', '/v1/jobs', cursor('-005000-01-01T00:00:00.000Z')],
    ['the latest date JavaScript holds', '/v1/jobs', cursor('+275760-09-13T00:00:00.000Z')],
    ['an admin list cursor dated after year 9999', '/v1/admin/jobs', cursor('+200000-01-01T00:00:00.000Z')],
  ])('answers %s with 400 VALIDATION_FAILED', async (_case, route, value) => {
    const target = await start({});
    const admin = await createTestUser(inject('databaseUrl'), { role: 'admin' });
    const response = await fetch(`${target.baseUrl}${route}?cursor=${value}`, {
      headers: route.includes('admin') ? admin.headers : target.user.headers,
    });
    const body = (await response.json()) as { error: { code: string; details: { field: string } } };
    expect({ status: response.status, code: body.error.code, field: body.error.details.field }).toEqual({
      status: 400,
      code: 'VALIDATION_FAILED',
      field: 'cursor',
    });
  });
});

describe('logs', () => {
  it('redacts secret query parameters in the request log, keeping the others', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const target = await start({ logger });
    const secret = 'iq_0123456789ab_SECRETSECRETSECRETSECRETSECRETSECRETSECRETSEC';
    const query = `?api_key=${secret}&limit=5&token=${secret}&ApiKey=${secret}&client_secret=${secret}&access_token=${secret}&status=queued`;
    await fetch(`${target.baseUrl}/v1/jobs${query}`, { headers: target.user.headers });
    await fetch(`${target.baseUrl}/v1/jobs${query}`); // refused: logged at warn
    const logged = lines.filter((line) => line.includes('/v1/jobs?'));
    expect(logged.length).toBeGreaterThanOrEqual(2);
    for (const line of logged) {
      expect(line).not.toContain('SECRETSECRET');
      expect(JSON.parse(line).req.url).toBe(
        '/v1/jobs?api_key=[REDACTED]&limit=5&token=[REDACTED]&ApiKey=[REDACTED]&client_secret=[REDACTED]&access_token=[REDACTED]&status=queued',
      );
    }
  });
});

describe('TIER_OVERRIDES', () => {
  it.each([
    ['constructor', '{"constructor":{"submitsPerWindow":5}}'],
    ['__proto__', '{"__proto__":{"submitsPerWindow":5}}'],
    ['prototype', '{"prototype":{"submitsPerWindow":5}}'],
    ['toString', '{"tostring":{},"constructor":{}}'],
    ['an unknown field', '{"free":{"submitsPerMinute":5}}'],
    ['a field of the wrong type', '{"free":{"submitsPerWindow":"5"}}'],
    ['a name that is not one', '{"Free Tier":{"submitsPerWindow":5}}'],
  ])('refuses %s at start', (_case, value) => {
    expect(() => parseApiEnv({ TIER_OVERRIDES: value })).toThrow(/TIER_OVERRIDES/);
  });

  it('takes a change to a tier and a new tier', () => {
    expect(
      parseApiEnv({ TIER_OVERRIDES: '{"free":{"submitsPerWindow":5},"gold":{"priority":2}}' }).TIER_OVERRIDES,
    ).toEqual({ free: { submitsPerWindow: 5 }, gold: { priority: 2 } });
  });
});

describe('public routes', () => {
  let root: string;
  let registry: ModelRegistry;
  let shard: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'inferq-public-'));
    registry = new ModelRegistry({ root });
    const { name: _n, version: _v, sha256: _s, ...manifest } = await readModelManifest(mnistFixtureFolder);
    await registry.publish({
      name: 'digits',
      version: '1.0.0',
      files: await readModelFiles(mnistFixtureFolder),
      manifest,
      setLive: true,
    });
    shard = (
      JSON.parse(await readFile(path.join(mnistFixtureFolder, 'model.json'), 'utf8')) as {
        weightsManifest: Array<{ paths: string[] }>;
      }
    ).weightsManifest[0]!.paths[0]!;
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('limits model file downloads per client address, with 429 RATE_LIMITED and Retry-After', async () => {
    const target = await start({ registry, publicRequestsPerMinute: 3, trustProxy: 1 });
    const get = (address: string) =>
      fetch(`${target.baseUrl}/v1/models/digits/1.0.0/${shard}`, { headers: { 'x-forwarded-for': address } });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await get('198.51.100.20')).status);
    const refused = await get('198.51.100.20');
    expect([...statuses, refused.status]).toEqual([200, 200, 200, 429]);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another client is not slowed by the first one's flood.
    expect((await get('198.51.100.21')).status).toBe(200);
  });

  it("answers a version's files from memory once read: no registry read per request; a file gone from disk is 404", async () => {
    const folder = path.join(root, 'digits', '1.0.0');
    const target = await start({ registry });
    const get = (file: string) => fetch(`${target.baseUrl}/v1/models/digits/1.0.0/${file}`);
    expect((await get(shard)).status).toBe(200);
    // Without its manifest the registry can no longer resolve the version; the files still serve.
    const manifest = await readFile(path.join(folder, 'manifest.json'));
    await rm(path.join(folder, 'manifest.json'));
    try {
      expect((await get(shard)).status).toBe(200);
      expect((await get('model.json')).status).toBe(200);
      expect(
        await registry.resolve('digits', '1.0.0').then(
          () => 'resolved',
          () => 'unresolvable',
        ),
      ).toBe('unresolvable');
    } finally {
      await writeFile(path.join(folder, 'manifest.json'), manifest);
    }
    const bytes = await readFile(path.join(folder, shard));
    await rm(path.join(folder, shard));
    try {
      const gone = await get(shard);
      expect({ status: gone.status, code: ((await gone.json()) as { error: { code: string } }).error.code }).toEqual({
        status: 404,
        code: 'NOT_FOUND',
      });
    } finally {
      await writeFile(path.join(folder, shard), bytes);
    }
  });

  it.each([
    ['no token', {}, 401],
    ['a wrong token', { authorization: 'Bearer not-the-metrics-token' }, 401],
    ['an API key instead of the token', 'user', 401],
    ['the token', { authorization: 'Bearer metrics-token-0123456789' }, 200],
  ])('GET /metrics with METRICS_TOKEN set and %s answers %i', async (_case, headers, expected) => {
    const target = await start({ metricsToken: 'metrics-token-0123456789' });
    const response = await fetch(`${target.baseUrl}/metrics`, {
      headers: headers === 'user' ? target.user.headers : (headers as Record<string, string>),
    });
    expect(response.status).toBe(expected);
    if (expected === 401)
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    else expect(await response.text()).toContain('inferq_');
  });
});
