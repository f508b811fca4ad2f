import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry, readModelFiles, readModelManifest } from '@inferq/models';
import type { PlatformProcess, TestUser } from '@inferq/testing';
import { mnistFixtureFolder } from '@inferq/training';
import {
  createTestUser,
  platformEnv,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  waitForFinal,
  type Caller,
  type JobJson,
} from './platform.ts';

type QueuedJob = JobJson & { queuePosition: number | null; etaSeconds: number | null; waitingFor: 'worker' | null };

async function publish(root: string, name: string): Promise<void> {
  const registry = new ModelRegistry({ root });
  const { name: _n, version: _v, sha256: _s, ...manifest } = await readModelManifest(mnistFixtureFolder);
  await registry.publish({ name, version: '1.0.0', files: await readModelFiles(mnistFixtureFolder), manifest });
  await registry.setLive(name, '1.0.0');
}

describe('queue position and ETA of queued jobs', () => {
  let root: string;
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let baseUrl: string;
  let free: TestUser;
  let pro: TestUser;
  let admin: TestUser;
  let digit: Buffer;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'inferq-position-'));
    await publish(root, 'mnist');
    await publish(root, 'idle');
    digit = await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png()
      .toBuffer();
    const env = platformEnv({ modelsDir: root, extra: { DEFAULT_MODEL: 'mnist', HEARTBEAT_INTERVAL_MS: '200' } });
    const started = await Promise.all([
      startApiProcess(env),
      startWorkerProcess({ ...env, workerId: 'position', extra: { ...env.extra, WORKER_MODELS: 'mnist' } }),
    ]);
    api = started[0].process;
    worker = started[1].process;
    baseUrl = started[0].baseUrl;
    [free, pro, admin] = await Promise.all([
      createTestUser(env.databaseUrl),
      createTestUser(env.databaseUrl, { tier: 'pro' }),
      createTestUser(env.databaseUrl, { role: 'admin' }),
    ]);
  }, 180_000);

  afterAll(async () => {
    await stopAll([api, worker]);
    await rm(root, { recursive: true, force: true });
  });

  const as = (user: TestUser): Caller => ({ baseUrl, user });
  const list = async (user: TestUser) =>
    (
      (await (await fetch(`${baseUrl}/v1/jobs?status=queued&limit=100`, { headers: user.headers })).json()) as {
        data: QueuedJob[];
      }
    ).data;

  it('numbers queued jobs in the order workers take them (priority, then arrival), with an ETA from the measured throughput', async () => {
    // Some jobs first, so the worker has a throughput to announce.
    const warm = await Promise.all(Array.from({ length: 6 }, () => submit(as(free), digit)));
    await Promise.all(warm.map((job) => waitForFinal(as(free), job.id)));
    await new Promise((resolve) => setTimeout(resolve, 1500));

    expect((await fetch(`${baseUrl}/v1/admin/queue/pause`, { method: 'POST', headers: admin.headers })).status).toBe(
      200,
    );
    const placed: Array<[QueuedJob, TestUser]> = [];
    try {
      // Free jobs get priority 10, 14, 18 (their tier's base, a step per job in flight); pro ones 1, 2, 3.
      const f1 = (await submit(as(free), digit)) as QueuedJob;
      const f2 = (await submit(as(free), digit)) as QueuedJob;
      const p1 = (await submit(as(pro), digit)) as QueuedJob;
      const p2 = (await submit(as(pro), digit)) as QueuedJob;
      const f3 = (await submit(as(free), digit)) as QueuedJob;
      const p3 = (await submit(as(pro), digit)) as QueuedJob;
      placed.push([f1, free], [f2, free], [f3, free], [p1, pro], [p2, pro], [p3, pro]);
      // The 202 says where each stood when it was submitted.
      expect([f1, f2, p1, p2, f3, p3].map((job) => job.queuePosition)).toEqual([1, 2, 1, 2, 5, 3]);
      expect(f1.etaSeconds).toBeGreaterThan(0);

      const now = new Map([...(await list(free)), ...(await list(pro))].map((job) => [job.id, job]));
      const order = [p1, p2, p3, f1, f2, f3].map((job) => now.get(job.id)!);
      expect(order.map((job) => job.queuePosition)).toEqual([1, 2, 3, 4, 5, 6]);
      // ETA: present, and later for a later place (one model, one throughput).
      const etas = order.map((job) => job.etaSeconds);
      expect(etas.every((eta) => typeof eta === 'number' && eta > 0)).toBe(true);
      for (let i = 1; i < etas.length; i++) expect(etas[i]!).toBeGreaterThanOrEqual(etas[i - 1]!);
      // GET /v1/jobs/:id says the same.
      const single = (await (
        await fetch(`${baseUrl}/v1/jobs/${f3.id}`, { headers: free.headers })
      ).json()) as QueuedJob;
      expect([single.queuePosition, single.etaSeconds]).toEqual([6, order[5]!.etaSeconds]);
    } finally {
      expect((await fetch(`${baseUrl}/v1/admin/queue/resume`, { method: 'POST', headers: admin.headers })).status).toBe(
        200,
      );
    }
    // Once they run, they are no longer placed.
    const done = (await Promise.all(placed.map(([job, owner]) => waitForFinal(as(owner), job.id)))) as QueuedJob[];
    expect(done).toHaveLength(6);
    for (const job of done) expect([job.status, job.queuePosition, job.etaSeconds]).toEqual(['succeeded', null, null]);
  });

  it('places a job of a model no worker serves, with no ETA while that model was never loaded', async () => {
    const job = (await submit(as(free), digit, { model: 'idle' })) as QueuedJob;
    expect([job.waitingFor, job.queuePosition, job.etaSeconds]).toEqual(['worker', 1, null]);
    expect((await fetch(`${baseUrl}/v1/jobs/${job.id}/cancel`, { method: 'POST', headers: free.headers })).status).toBe(
      200,
    );
  });
});
