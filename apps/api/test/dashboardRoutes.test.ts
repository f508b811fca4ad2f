import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { photoLikeImage, validJpeg, validPng, validWebp } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { WorkerRegistry } from '@inferq/queue';
import { imageForm, sharedTestApi, startTestApi, type ErrorJson, type TestApi } from './apiHarness.ts';

describe('the dashboard routes: account, job image, operators', () => {
  const api = sharedTestApi();

  async function submitAs(user: TestUser, bytes: Buffer, type = 'image/jpeg'): Promise<{ id: string }> {
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: user.headers,
      body: imageForm(bytes, {}, 'upload', type),
    });
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string };
  }

  it("answers the caller's tier, limits and current usage", async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const image = await photoLikeImage(64, 48);
    await submitAs(user, image);
    await submitAs(user, image);
    const response = await fetch(`${api.baseUrl}/v1/account`, { headers: user.headers });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      user: { id: user.userId, email: user.email, role: 'user' },
      tier: {
        name: 'free',
        submitsPerWindow: 60,
        rateWindowSeconds: 60,
        maxJobsInFlight: 200,
        maxUploadBytes: 5 * 1024 * 1024,
        maxPixels: 16_000_000,
        maxBatchImages: 16,
        retentionDays: 7,
      },
      // No worker serves this test's queue: both jobs are still queued.
      usage: { submitsInWindow: 2, jobsInFlight: 2 },
    });
  });

  it.each([
    ['jpeg', validJpeg, 'image/jpeg'],
    ['png', validPng, 'image/png'],
    ['webp', validWebp, 'image/webp'],
  ])('streams a job’s stored %s input back to its owner with its content type', async (_format, make, contentType) => {
    const bytes = await make(80, 60);
    const { id } = await submitAs(api.user, bytes, contentType);
    const response = await fetch(`${api.baseUrl}/v1/jobs/${id}/image`, { headers: api.user.headers });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(contentType);
    expect(response.headers.get('cache-control')).toContain('private');
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('answers ?size=N with a square WebP thumbnail of the input, N pixels wide', async () => {
    const { id } = await submitAs(api.user, await photoLikeImage(640, 480));
    const response = await fetch(`${api.baseUrl}/v1/jobs/${id}/image?size=88`, { headers: api.user.headers });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/webp');
    expect(response.headers.get('cache-control')).toContain('private');
    const metadata = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['webp', 88, 88]);
  });

  it.each(['0', '15', '513', 'big', '88.5', '-1'])(
    'refuses the thumbnail size %j with 400 VALIDATION_FAILED',
    async (size) => {
      const { id } = await submitAs(api.user, await validPng());
      const response = await fetch(`${api.baseUrl}/v1/jobs/${id}/image?size=${size}`, { headers: api.user.headers });
      expect(response.status).toBe(400);
      expect(((await response.json()) as ErrorJson).error.code).toBe('VALIDATION_FAILED');
    },
  );

  it.each([
    [
      'another user’s job',
      async () => (await submitAs(api.user, await validPng())).id,
      () => api.admin.headers,
      404,
      'JOB_NOT_FOUND',
    ],
    [
      'a job that does not exist',
      async () => '00000000-0000-4000-8000-000000000000',
      () => api.user.headers,
      404,
      'JOB_NOT_FOUND',
    ],
    ['a malformed id', async () => 'not-a-uuid', () => api.user.headers, 404, 'JOB_NOT_FOUND'],
    ['no key', async () => (await submitAs(api.user, await validPng())).id, () => ({}), 401, 'UNAUTHENTICATED'],
  ])('refuses the image of %s', async (_case, makeId, headers, status, code) => {
    const id = await makeId();
    const response = await fetch(`${api.baseUrl}/v1/jobs/${id}/image`, { headers: headers() });
    expect(response.status).toBe(status);
    expect(((await response.json()) as ErrorJson).error.code).toBe(code);
  });

  it.each([
    ['GET', '/v1/admin/overview'],
    ['GET', '/v1/admin/stats'],
    ['POST', '/v1/admin/jobs/00000000-0000-4000-8000-000000000000/retry'],
    ['POST', '/v1/admin/jobs/00000000-0000-4000-8000-000000000000/cancel'],
  ])('answers %s %s with 403 FORBIDDEN to a user who is not an administrator', async (method, route) => {
    const response = await fetch(`${api.baseUrl}${route}`, { method, headers: api.user.headers });
    expect(response.status).toBe(403);
    expect(((await response.json()) as ErrorJson).error.code).toBe('FORBIDDEN');
  });

  it('shows operators the queue’s counts, its cap, and the workers of this queue only', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const image = await photoLikeImage(64, 48);
    for (let i = 0; i < 3; i++) await submitAs(user, image);
    const registry = new WorkerRegistry({ connection: api.queue.connection, prefix: inject('queuePrefix') });
    const now = new Date().toISOString();
    const heartbeat = {
      host: 'h',
      pid: 1,
      backend: 'wasm',
      models: [{ name: 'nsfw', version: '4.4.0' }],
      currentBatch: 2,
      activeJobs: 4,
      jobsSucceeded: 9,
      jobsFailed: 1,
      startedAt: now,
      heartbeatAt: now,
    };
    await registry.beat({ ...heartbeat, workerId: `mine-${api.queue.name}`, queue: api.queue.name });
    await registry.beat({ ...heartbeat, workerId: `other-${api.queue.name}`, queue: 'some-other-queue' });
    try {
      const response = await fetch(`${api.baseUrl}/v1/admin/overview`, { headers: api.admin.headers });
      expect(response.status).toBe(200);
      const body = (await response.json()) as {
        queue: string;
        counts: Record<string, number>;
        inSystem: number;
        cap: number;
        paused: boolean;
        workers: Array<{ workerId: string; currentBatch: number }>;
      };
      expect(body.queue).toBe(api.queue.name);
      expect(Object.keys(body.counts).sort()).toEqual([
        'active',
        'completed',
        'delayed',
        'failed',
        'prioritized',
        'waiting',
      ]);
      // Every job of this queue so far waits (no worker); jobs with a tier priority are "prioritized".
      expect(body.counts.waiting! + body.counts.prioritized!).toBe(body.inSystem);
      expect(body.inSystem).toBeGreaterThanOrEqual(3);
      expect(body.cap).toBe(10_000);
      expect(body.paused).toBe(false);
      expect(body.workers.map((worker) => [worker.workerId, worker.currentBatch])).toEqual([
        [`mine-${api.queue.name}`, 2],
      ]);
    } finally {
      await registry.remove(`mine-${api.queue.name}`);
      await registry.remove(`other-${api.queue.name}`);
    }
  });

  it('answers throughput and latency over the window in the buckets asked for', async () => {
    const response = await fetch(`${api.baseUrl}/v1/admin/stats?window=600&bucket=60`, { headers: api.admin.headers });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { bucketSeconds: number; buckets: unknown[]; from: string; to: string };
    expect(body.bucketSeconds).toBe(60);
    expect(body.buckets).toHaveLength(10);
    expect(Date.parse(body.to) - Date.parse(body.from)).toBe(600_000);
  });

  it.each([
    ['window=0'],
    ['window=abc'],
    ['bucket=0'],
    ['window=-60'],
    ['window=86400&bucket=60'],
    ['window=999999999'],
  ])('refuses stats?%s with 400 VALIDATION_FAILED', async (query) => {
    const response = await fetch(`${api.baseUrl}/v1/admin/stats?${query}`, { headers: api.admin.headers });
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorJson).error.code).toBe('VALIDATION_FAILED');
  });

  it('retries a failed job under the same id: the row is queued again and the queue holds it', async () => {
    const { id } = await submitAs(api.user, await validPng());
    const queued = await fetch(`${api.baseUrl}/v1/admin/jobs/${id}/retry`, {
      method: 'POST',
      headers: api.admin.headers,
    });
    expect(queued.status).toBe(409);
    expect(((await queued.json()) as ErrorJson).error.code).toBe('CONFLICT');

    // Fail its row as a worker would.
    await api.jobs.fail(id, 'INFERENCE_FAILED', 'The model rejected this input.');
    const retried = await fetch(`${api.baseUrl}/v1/admin/jobs/${id}/retry`, {
      method: 'POST',
      headers: api.admin.headers,
    });
    expect(retried.status).toBe(202);
    expect(await retried.json()).toMatchObject({ id, status: 'queued', error: null, finishedAt: null });
    expect(['waiting', 'prioritized']).toContain(await (await api.queue.queueFor('nsfw').getJob(id))!.getState());
    const row = await api.jobs.get(id);
    expect(row).toMatchObject({ status: 'queued', errorCode: null, finishedAt: null });
  });

  it('cancels any user’s unfinished job, once', async () => {
    const { id } = await submitAs(api.user, await validPng());
    const first = await fetch(`${api.baseUrl}/v1/admin/jobs/${id}/cancel`, {
      method: 'POST',
      headers: api.admin.headers,
    });
    expect(first.status).toBe(200);
    expect(((await first.json()) as { status: string }).status).toBe('canceled');
    expect(await api.queue.queueFor('nsfw').getJob(id)).toBeUndefined();
    const second = await fetch(`${api.baseUrl}/v1/admin/jobs/${id}/cancel`, {
      method: 'POST',
      headers: api.admin.headers,
    });
    expect(second.status).toBe(409);
    expect(((await second.json()) as ErrorJson).error.code).toBe('JOB_FINISHED');
    const missing = await fetch(`${api.baseUrl}/v1/admin/jobs/00000000-0000-4000-8000-000000000000/cancel`, {
      method: 'POST',
      headers: api.admin.headers,
    });
    expect(missing.status).toBe(404);
  });
});

describe('serving the dashboard under /dashboard', () => {
  let api: TestApi;
  let unbuilt: TestApi;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'inferq-dashboard-'));
    await mkdir(path.join(dir, 'assets'));
    await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>InferQ</title><div id="root"></div>');
    await writeFile(path.join(dir, 'assets/index-a1b2c3d4.js'), 'console.log(1)');
    [api, unbuilt] = await Promise.all([
      startTestApi({ dashboardDir: dir }),
      startTestApi({ dashboardDir: path.join(dir, 'missing') }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([api?.close(), unbuilt?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    '/dashboard/',
    '/dashboard/jobs',
    '/dashboard/jobs/0b7e3c1a-0000-4000-8000-000000000000',
    '/dashboard/operations',
  ])('answers %s with the page, never cached, under a policy that allows blob: images', async (route) => {
    const response = await fetch(`${api.baseUrl}${route}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('content-security-policy')).toContain("img-src 'self' data: blob:");
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await response.text()).toContain('<div id="root">');
  });

  it('caches hashed assets for a year and answers a missing one with 404, not the page', async () => {
    const asset = await fetch(`${api.baseUrl}/dashboard/assets/index-a1b2c3d4.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const missing = await fetch(`${api.baseUrl}/dashboard/assets/index-00000000.js`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ErrorJson).error.code).toBe('NOT_FOUND');
  });

  it('sends / to the dashboard', async () => {
    const response = await fetch(`${api.baseUrl}/`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/dashboard/');
  });

  it('still serves the API when the dashboard is not built, and says how to build it', async () => {
    const page = await fetch(`${unbuilt.baseUrl}/dashboard/`);
    expect(page.status).toBe(503);
    expect(await page.text()).toContain('pnpm --filter @inferq/dashboard build');
    const health = await fetch(`${unbuilt.baseUrl}/healthz`);
    expect(health.status).toBe(200);
  });
});
