import { afterEach, describe, expect, it } from 'vitest';
import { createWorkerMetrics } from '@inferq/metrics';
import { HealthServer, withoutPaths } from '../src/healthServer.ts';
import { workerEnvSchema } from '../src/env.ts';

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const token = 'scrape-token-0123456789';

async function start(
  options: { metricsToken?: string; describe?: () => Record<string, unknown> } = {},
): Promise<string> {
  const metrics = createWorkerMetrics({ queueCounts: async () => ({}), loadedModels: () => [] });
  server = new HealthServer({
    host: '127.0.0.1',
    port: 0,
    checks: { model: () => false },
    metrics: metrics.registry,
    ...options,
  });
  const address = await server.start();
  return `http://127.0.0.1:${address.port}`;
}

describe('the worker health server', () => {
  it('listens on loopback unless WORKER_HOST says otherwise', () => {
    expect(workerEnvSchema.parse({}).WORKER_HOST).toBe('127.0.0.1');
    expect(workerEnvSchema.parse({ WORKER_HOST: '0.0.0.0' }).WORKER_HOST).toBe('0.0.0.0');
  });

  it.each([
    ['no Authorization header', undefined, 401],
    ['another token', 'Bearer scrape-token-wrong-wrong', 401],
    ['the token under another scheme', `Basic ${token}`, 401],
    ['the token', `Bearer ${token}`, 200],
    ['the token, scheme in lower case', `bearer ${token}`, 200],
  ])('answers /metrics with %s: %s', async (_case, authorization, status) => {
    const base = await start({ metricsToken: token });
    const response = await fetch(`${base}/metrics`, { headers: authorization ? { authorization } : {} });
    expect(response.status).toBe(status);
    if (status === 401) {
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    } else {
      expect(await response.text()).toContain('inferq_');
    }
    // Health and readiness stay open to probes.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('serves /metrics without a token when none is configured', async () => {
    const base = await start();
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });

  it('shows no absolute install path on /readyz', async () => {
    const base = await start({
      describe: () => ({
        backendDetails: {
          skipped: [
            {
              name: 'tensorflow',
              reason: "Cannot find module '/srv/inferq/node_modules/@tensorflow/tfjs-node/lib/index.js'",
            },
          ],
        },
        failedModels: [
          {
            name: 'nsfw',
            message: '/srv/inferq/models/nsfw/LIVE names version "9", which is not a version folder of nsfw',
          },
        ],
        windows: 'C:\\inferq\\models\\nsfw\\LIVE is missing',
        url: 'fetch of https://models.example/a/b/model.json failed',
      }),
    });
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(text).not.toContain('/srv/');
    expect(text).not.toContain('C:\\\\inferq');
    const body = JSON.parse(text) as { failedModels: Array<{ message: string }>; url: string };
    expect(body.failedModels[0]?.message).toBe('…/LIVE names version "9", which is not a version folder of nsfw');
    expect(body.url).toBe('fetch of https://models.example/a/b/model.json failed');
  });

  it.each([
    ['file:///opt/app/models/x/model.json', '…/model.json'],
    ['relative/path/stays', 'relative/path/stays'],
    ['a ratio 1/2 stays', 'a ratio 1/2 stays'],
  ])('cuts %s to %s', (given, expected) => {
    expect(withoutPaths(given)).toBe(expected);
  });
});
