import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { modelQueueName } from '@inferq/core';
import { ModelRegistry, readModelFiles, readModelManifest } from '@inferq/models';
import { migrate, withDatabase, type PlatformProcess, type TestUser } from '@inferq/testing';
import { mnistFixtureFolder } from '@inferq/training';
import {
  createTestUser,
  getJob,
  platformEnv,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  waitForFinal,
  type Caller,
  type JobJson,
} from './platform.ts';

type DeadlineJob = JobJson & {
  startedAt: string | null;
  deadlines: { startBy: string | null; cancelAfterSeconds: number | null };
};

/** Publishes the committed MNIST model as `name`@1.0.0, live, with its manifest's `limits` changed by `limits`. */
async function publish(root: string, name: string, limits: Record<string, number> = {}): Promise<void> {
  const registry = new ModelRegistry({ root });
  const { name: _n, version: _v, sha256: _s, ...manifest } = await readModelManifest(mnistFixtureFolder);
  await registry.publish({
    name,
    version: '1.0.0',
    files: await readModelFiles(mnistFixtureFolder),
    manifest: { ...manifest, limits: { ...manifest.limits, ...limits } },
  });
  await registry.setLive(name, '1.0.0');
}

/** POST /v1/jobs as it came back, whatever its status. */
async function post(
  caller: Caller,
  image: Buffer,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.set(key, value);
  form.set('image', new Blob([new Uint8Array(image)]), 'digit.png');
  const response = await fetch(`${caller.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: { ...caller.user.headers, ...headers },
    body: form,
  });
  return {
    status: response.status,
    body: (await response.json()) as DeadlineJob & { error: { code: string; details?: { field?: string } } },
  };
}

let root: string;
let digit: Buffer;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'inferq-deadlines-'));
  // `mnist` is served; `idle` is published (the API takes its jobs) but no worker serves it.
  await publish(root, 'mnist');
  await publish(root, 'idle');
  // A job alone waits a second for its batch to fill: an attempt that outlives a 300 ms Cancel-After.
  await publish(root, 'gather', { maxBatchSize: 8, maxDelayMs: 1000 });
  digit = await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .png()
    .toBuffer();
  cleanups.push(() => rm(root, { recursive: true, force: true }));
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/**
 * With the reconciler on: a database of this test's own, since the reconciler reads every
 * unfinished row and would take other tests' jobs into this test's queue.
 */
describe('ttlSeconds and Cancel-After, with the reconciler running', () => {
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let caller: Caller;
  let env: ReturnType<typeof platformEnv>;

  beforeAll(async () => {
    const database = `inferq_deadlines_${randomUUID().replaceAll('-', '')}`;
    const admin = new pg.Client({ connectionString: inject('databaseUrl') });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    cleanups.push(async () => {
      const client = new pg.Client({ connectionString: inject('databaseUrl') });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await client.end();
    });
    const databaseUrl = withDatabase(inject('databaseUrl'), database);
    await migrate(databaseUrl);
    env = platformEnv({
      databaseUrl,
      modelsDir: root,
      extra: {
        DEFAULT_MODEL: 'mnist',
        // Two jobs in flight at once: the quota test fills it with jobs that then expire.
        TIER_OVERRIDES: JSON.stringify({ free: { maxJobsInFlight: 2 } }),
        HEARTBEAT_INTERVAL_MS: '200',
      },
    });
    const started = await Promise.all([
      startApiProcess(env),
      startWorkerProcess({
        ...env,
        workerId: 'deadlines',
        extra: {
          ...env.extra,
          WORKER_MODELS: 'mnist,gather',
          RECONCILE_INTERVAL_MS: '1000',
          TTL_SWEEP_INTERVAL_MS: '200',
        },
      }),
    ]);
    api = started[0].process;
    worker = started[1].process;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(databaseUrl) };
  }, 180_000);

  afterAll(async () => {
    await stopAll([api, worker]);
  });

  it('expires queued jobs no worker serves once their ttl passes, out of the queue, never started, and gives their quota back', async () => {
    const submittedAt = Date.now();
    const first = await post(caller, digit, { model: 'idle', ttlSeconds: '1' });
    const second = await post(caller, digit, { model: 'idle', ttlSeconds: '1' });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(first.body.status).toBe('queued');
    const startBy = Date.parse(first.body.deadlines.startBy!);
    expect(startBy).toBeGreaterThanOrEqual(submittedAt + 1000 - 50);
    expect(startBy).toBeLessThanOrEqual(Date.now() + 1000 + 50);
    // The quota (2) is full while they wait.
    const refused = await post(caller, digit, { model: 'idle' });
    expect([refused.status, refused.body.error.code]).toEqual([429, 'QUOTA_EXCEEDED']);

    const expired = (await Promise.all(
      [first, second].map((job) => waitForFinal(caller, job.body.id, 30_000)),
    )) as DeadlineJob[];
    for (const job of expired) {
      expect(job).toMatchObject({ status: 'expired', attempts: 0, startedAt: null, error: { code: 'EXPIRED' } });
    }
    // Their queue entries are gone: they can never start.
    const redis = new Redis(inject('redisUrl'));
    try {
      const keys = expired.map((job) => `${inject('queuePrefix')}:${modelQueueName('idle', env.queueName)}:${job.id}`);
      expect(await redis.exists(...keys)).toBe(0);
    } finally {
      redis.disconnect();
    }
    // Not counted against the quota any more: two new jobs are taken.
    const again = await Promise.all([post(caller, digit, { model: 'idle' }), post(caller, digit, { model: 'idle' })]);
    expect(again.map((answer) => answer.status)).toEqual([202, 202]);
    const account = (await (await fetch(`${caller.baseUrl}/v1/account`, { headers: caller.user.headers })).json()) as {
      usage: { jobsInFlight: number };
    };
    expect(account.usage.jobsInFlight).toBe(2);
    // Cleared for the tests below.
    for (const answer of again) {
      expect(
        (
          await fetch(`${caller.baseUrl}/v1/jobs/${answer.body.id}/cancel`, {
            method: 'POST',
            headers: caller.user.headers,
          })
        ).status,
      ).toBe(200);
    }
  });

  it('lists expired jobs under ?status=expired', async () => {
    const response = await fetch(`${caller.baseUrl}/v1/jobs?status=expired`, { headers: caller.user.headers });
    const page = (await response.json()) as { data: DeadlineJob[] };
    expect(response.status).toBe(200);
    expect(page.data.length).toBe(2);
    expect(new Set(page.data.map((job) => job.status))).toEqual(new Set(['expired']));
  });

  it('fails an attempt that outlives its Cancel-After with DEADLINE_EXCEEDED; without one the same job succeeds', async () => {
    const limited = await post(caller, digit, { model: 'gather' }, { 'Cancel-After': '300ms' });
    expect(limited.status).toBe(202);
    expect(limited.body.deadlines.cancelAfterSeconds).toBe(0.3);
    const failed = await waitForFinal(caller, limited.body.id, 30_000);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'DEADLINE_EXCEEDED' } });

    // The form field says the same; a deadline longer than the attempt takes does not stop it.
    const roomy = await submit(caller, digit, { model: 'gather', cancelAfter: '1m' });
    expect((roomy as DeadlineJob).deadlines.cancelAfterSeconds).toBe(60);
    expect(await waitForFinal(caller, roomy.id, 30_000)).toMatchObject({ status: 'succeeded', error: null });
  });

  it.each([
    [{ ttlSeconds: '0' }, {}, 'ttlSeconds'],
    [{ ttlSeconds: '-5' }, {}, 'ttlSeconds'],
    [{ ttlSeconds: '1.5' }, {}, 'ttlSeconds'],
    [{ ttlSeconds: 'soon' }, {}, 'ttlSeconds'],
    [{ ttlSeconds: '604801' }, {}, 'ttlSeconds'],
    [{ ttlSeconds: '12345678901234567' }, {}, 'ttlSeconds'],
    [{}, { 'Cancel-After': 'later' }, 'cancelAfter'],
    [{}, { 'Cancel-After': '0.05' }, 'cancelAfter'],
    [{}, { 'Cancel-After': '25h' }, 'cancelAfter'],
    [{ cancelAfter: '5 minutes' }, {}, 'cancelAfter'],
  ])('refuses %j %j with 400 VALIDATION_FAILED naming the field, storing nothing', async (fields, headers, field) => {
    const answer = await post(caller, digit, { model: 'mnist', ...fields }, headers);
    expect([answer.status, answer.body.error.code, answer.body.error.details?.field]).toEqual([
      400,
      'VALIDATION_FAILED',
      field,
    ]);
  });
});

/**
 * Without a reconciler (the shared database): a job past its ttl that a worker takes is expired by
 * the worker's start itself, before any preprocessing or batch, and never runs.
 */
describe('a worker that takes a job past its ttl', () => {
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let healthUrl: string;
  let caller: Caller;
  let admin: TestUser;

  beforeAll(async () => {
    const env = platformEnv({ modelsDir: root, extra: { DEFAULT_MODEL: 'mnist' } });
    const started = await Promise.all([
      startApiProcess(env),
      startWorkerProcess({ ...env, workerId: 'ttl-skip', extra: { ...env.extra, WORKER_MODELS: 'mnist' } }),
    ]);
    api = started[0].process;
    worker = started[1].process;
    healthUrl = started[1].healthUrl;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl) };
    admin = await createTestUser(env.databaseUrl, { role: 'admin' });
  }, 180_000);

  afterAll(async () => {
    await stopAll([api, worker]);
  });

  it('skips it (expired, no attempt) and runs the job queued beside it', async () => {
    // Paused, the jobs wait in the queue past the ttl; nothing sweeps them.
    expect(
      (await fetch(`${caller.baseUrl}/v1/admin/queue/pause`, { method: 'POST', headers: admin.headers })).status,
    ).toBe(200);
    const short = await submit(caller, digit, { ttlSeconds: '1' });
    const plain = await submit(caller, digit, {});
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await getJob(caller, short.id)).status).toBe('queued');
    expect(
      (await fetch(`${caller.baseUrl}/v1/admin/queue/resume`, { method: 'POST', headers: admin.headers })).status,
    ).toBe(200);

    const [skipped, ran] = (await Promise.all([
      waitForFinal(caller, short.id, 30_000),
      waitForFinal(caller, plain.id, 30_000),
    ])) as DeadlineJob[];
    expect(skipped).toMatchObject({
      status: 'expired',
      attempts: 0,
      startedAt: null,
      result: null,
      error: { code: 'EXPIRED' },
    });
    expect(ran).toMatchObject({ status: 'succeeded', attempts: 1 });
    const metrics = await (await fetch(`${healthUrl}/metrics`)).text();
    expect(metrics).toContain('inferq_jobs_finished_total{model="mnist",status="expired",code="EXPIRED"} 1');
    expect(
      worker!.lines.some((line) => line.msg === 'job expired before it started; skipped' && line.jobId === short.id),
    ).toBe(true);
  });
});
