import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { modelQueueName } from '@inferq/core';
import { createDatabase, JobExecution, JobMaintenance, type Database } from '@inferq/db';
import { createWorkerMetrics } from '@inferq/metrics';
import { createRedisConnection, InferenceQueue } from '@inferq/queue';
import { FileBlobStore, inputBlobKey, uploadBlobKey } from '@inferq/storage';
import { createTestUser, startTestServices, TestJobs, type TestServices } from '@inferq/testing';
import type { Redis } from 'ioredis';
import { LeaderLock } from '../src/leaderLock.ts';
import { Reconciler, type ReconcilerOptions } from '../src/reconciler.ts';

/**
 * Reconciliation scans every unfinished row of its database, so this file has a database of its
 * own (other test files' rows would otherwise look lost to it).
 */
let services: TestServices;
let db: Database;
let redis: Redis;
let jobs: TestJobs;
let userId: string;

beforeAll(async () => {
  services = await startTestServices({ DATABASE_URL: inject('databaseUrl'), REDIS_URL: inject('redisUrl') });
  db = createDatabase({ url: services.databaseUrl, poolSize: 4 });
  redis = createRedisConnection({ url: services.redisUrl, role: 'producer' });
  redis.on('error', () => {});
  jobs = new TestJobs(db);
  userId = (await createTestUser(services.databaseUrl)).userId;
});
afterAll(async () => {
  await db?.$disconnect();
  redis?.disconnect();
  await services?.stop();
});

interface Setup {
  queue: InferenceQueue;
  reconciler: Reconciler;
  metrics: ReturnType<typeof createWorkerMetrics>;
  close(): Promise<void>;
}

async function setup(extra: Partial<ReconcilerOptions> = {}): Promise<Setup> {
  await db.job.deleteMany(); // each test starts from an empty table of its own
  const queue = new InferenceQueue({ connection: redis, name: `test-${randomUUID()}`, prefix: services.queuePrefix });
  await queue.waitUntilReady();
  const metrics = createWorkerMetrics({ defaultMetrics: false });
  const reconciler = new Reconciler({
    execution: new JobExecution(db),
    maintenance: new JobMaintenance(db),
    queue,
    lock: new LeaderLock({
      connection: redis,
      key: `${services.queuePrefix}:${queue.name}:leader`,
      owner: 'test',
      ttlMs: 5000,
    }),
    logger: pino({ level: 'silent' }),
    graceMs: 10_000,
    maxAgeMs: 3600_000,
    metrics,
    ...extra,
  });
  return {
    queue,
    reconciler,
    metrics,
    async close() {
      await queue.obliterate().catch(() => {});
      await queue.close();
    },
  };
}

/** A job row as the API writes it, created `ageMs` ago. */
async function jobRow(
  ageMs: number,
  fields: {
    status?: 'queued' | 'running' | 'succeeded';
    expiresAt?: Date | null;
    priority?: number;
    version?: string;
    model?: string;
  } = {},
): Promise<string> {
  const id = randomUUID();
  await jobs.create({
    id,
    userId,
    modelName: fields.model ?? 'nsfw',
    requestedVersion: fields.version,
    input: { data: Buffer.from('bytes'), format: 'jpeg', width: 64, height: 64, sha256: 'x'.repeat(64) },
  });
  await db.job.update({
    where: { id },
    data: {
      createdAt: new Date(Date.now() - ageMs),
      status: fields.status ?? 'queued',
      expiresAt: fields.expiresAt ?? null,
      priority: fields.priority ?? null,
    },
  });
  return id;
}

/** Moves the queue's next job to `failed` with `reason`, as a worker whose row write failed would. */
async function failNextJob(queue: InferenceQueue, reason: string): Promise<void> {
  const connection = createRedisConnection({ url: services.redisUrl, role: 'consumer' });
  const worker = new Worker(modelQueueName('nsfw', queue.name), null, {
    connection,
    prefix: services.queuePrefix,
    autorun: false,
  });
  const token = randomUUID();
  const job = await worker.getNextJob(token);
  await job!.moveToFailed(new UnrecoverableError(reason), token);
  await worker.close();
  connection.disconnect();
}

async function statusOf(id: string) {
  return db.job.findUniqueOrThrow({ where: { id }, select: { status: true, errorCode: true } });
}

describe('Reconciler', () => {
  it('re-enqueues unfinished rows that have no queue entry, with their version and priority, and only once', async () => {
    const { queue, reconciler, close } = await setup();
    try {
      const lostQueued = await jobRow(60_000, { priority: 7, version: '4.4.0' });
      const lostRunning = await jobRow(60_000, { status: 'running' });
      const young = await jobRow(1000);
      const finished = await jobRow(60_000, { status: 'succeeded' });

      const report = await reconciler.runOnce();
      expect(report).toMatchObject({ requeued: 2, failedLost: 0, fixedFailed: 0 });
      const entry = await queue.queueFor('nsfw').getJob(lostQueued);
      expect(entry?.data).toEqual({ jobId: lostQueued, model: 'nsfw', modelVersion: '4.4.0' });
      expect(entry?.opts.priority).toBe(7);
      expect(await queue.queueFor('nsfw').getJobState(lostRunning)).toBe('waiting');
      expect(await queue.queueFor('nsfw').getJobState(young)).toBe('unknown');
      expect(await queue.queueFor('nsfw').getJobState(finished)).toBe('unknown');

      // A second pass finds every job live in the queue: nothing to do.
      expect(await reconciler.runOnce()).toMatchObject({ requeued: 0, failedLost: 0, fixedFailed: 0 });
      expect(await queue.queueFor('nsfw').count()).toBe(2);
    } finally {
      await close();
    }
  });

  it('fails a lost job older than the maximum age with JOB_LOST', async () => {
    const { queue, reconciler, close } = await setup();
    try {
      const ancient = await jobRow(2 * 3600_000);
      expect(await reconciler.runOnce()).toMatchObject({ requeued: 0, failedLost: 1 });
      expect(await statusOf(ancient)).toEqual({ status: 'failed', errorCode: 'JOB_LOST' });
      expect(await queue.queueFor('nsfw').getJobState(ancient)).toBe('unknown');
    } finally {
      await close();
    }
  });

  it.each([
    ['the code the worker gave', 'PREPROCESSING_FAILED', 'failed', 'PREPROCESSING_FAILED'],
    [
      'INTERNAL for a reason that is not a code (stall limit)',
      'job stalled more than allowable limit',
      'failed',
      'INTERNAL',
    ],
    ['a re-run for a transient code', 'DATABASE_UNAVAILABLE', 'queued', null],
  ])('repairs a row whose queue entry failed while the row was not final: %s', async (_name, reason, status, code) => {
    const { queue, reconciler, metrics, close } = await setup();
    try {
      const id = await jobRow(60_000, { status: 'running' });
      await queue.enqueue({ jobId: id, model: 'nsfw' });
      await failNextJob(queue, reason);
      expect(await queue.queueFor('nsfw').getJobState(id)).toBe('failed');

      await reconciler.runOnce();
      expect(await statusOf(id)).toMatchObject({ status: status === 'queued' ? 'running' : status, errorCode: code });
      if (status === 'queued') {
        expect(await queue.queueFor('nsfw').getJobState(id)).toBe('waiting');
      } else {
        const text = await metrics.registry.metrics();
        expect(text).toContain(`inferq_jobs_finished_total{model="nsfw",status="failed",code="${code}"} 1`);
      }
    } finally {
      await close();
    }
  });

  it('leaves jobs alone whose queue entry is live', async () => {
    const { queue, reconciler, close } = await setup();
    try {
      const id = await jobRow(60_000);
      await queue.enqueue({ jobId: id, model: 'nsfw' });
      expect(await reconciler.runOnce()).toMatchObject({ checked: 1, requeued: 0, failedLost: 0, fixedFailed: 0 });
      expect(await statusOf(id)).toEqual({ status: 'queued', errorCode: null });
    } finally {
      await close();
    }
  });

  it('deletes final jobs past their expiry with input and result, and keeps the rest', async () => {
    const { queue, reconciler, close } = await setup();
    try {
      const past = new Date(Date.now() - 1000);
      const expired = await jobRow(60_000, { status: 'succeeded', expiresAt: past });
      await db.jobResult.create({ data: { jobId: expired, modelName: 'nsfw', modelVersion: '1', output: [[1]] } });
      await queue.enqueue({ jobId: expired, model: 'nsfw' });
      const neverExpires = await jobRow(60_000, { status: 'succeeded', expiresAt: null });
      const notYet = await jobRow(60_000, { status: 'succeeded', expiresAt: new Date(Date.now() + 3600_000) });
      const unfinished = await jobRow(1000, { expiresAt: past });

      const report = await reconciler.runOnce();
      expect(report.expiredDeleted).toBe(1);
      expect(await db.job.findUnique({ where: { id: expired } })).toBeNull();
      expect(await db.jobInput.findUnique({ where: { jobId: expired } })).toBeNull();
      expect(await db.jobResult.findUnique({ where: { jobId: expired } })).toBeNull();
      expect(await queue.queueFor('nsfw').getJobState(expired)).toBe('unknown');
      const kept = await db.job.count({ where: { id: { in: [neverExpires, notYet, unfinished] } } });
      expect(kept).toBe(3);
    } finally {
      await close();
    }
  });
});

describe('Reconciler with a blob store', () => {
  it('deletes the blobs of expired jobs with their rows, and uploads never submitted once they are old', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'inferq-reconciler-blobs-'));
    const blobs = new FileBlobStore(folder);
    const { reconciler, close } = await setup({ blobs, uploadMaxAgeMs: 60_000 });
    try {
      const expired = await jobRow(60_000, { status: 'succeeded', expiresAt: new Date(Date.now() - 1000) });
      const kept = await jobRow(60_000, { status: 'succeeded', expiresAt: null });
      for (const id of [expired, kept]) await blobs.put(inputBlobKey(id), Buffer.from('image'));
      const oldUpload = uploadBlobKey(randomUUID(), randomUUID());
      const freshUpload = uploadBlobKey(randomUUID(), randomUUID());
      for (const key of [oldUpload, freshUpload]) await blobs.put(key, Buffer.from('upload'));
      const twoMinutesAgo = new Date(Date.now() - 120_000);
      await utimes(path.join(folder, ...oldUpload.split('/')), twoMinutesAgo, twoMinutesAgo);

      const report = await reconciler.runOnce();
      expect(report).toMatchObject({ expiredDeleted: 1, uploadsDeleted: 1 });
      expect((await blobs.list('')).sort()).toEqual([freshUpload, inputBlobKey(kept)].sort());
    } finally {
      await close();
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('Reconciler across the per-model queues', () => {
  it('moves jobs left in the single queue of earlier versions to their model queues, with id and priority', async () => {
    const { queue, reconciler, close } = await setup();
    const legacy = new Queue(queue.name, { connection: redis, prefix: services.queuePrefix });
    try {
      const [a, b] = [await jobRow(1000), await jobRow(1000, { model: 'mnist' })];
      await legacy.add('infer', { jobId: a, model: 'nsfw' }, { jobId: a, priority: 7 });
      await legacy.add('infer', { jobId: b, model: 'mnist' }, { jobId: b, priority: 3 });
      const report = await reconciler.runOnce();
      expect(report.migrated).toBe(2);
      expect(await legacy.count()).toBe(0);
      const moved = [await queue.queueFor('nsfw').getJob(a), await queue.queueFor('mnist').getJob(b)];
      expect(moved.map((job) => [job?.id, job?.opts.priority, job?.data.model])).toEqual([
        [a, 7, 'nsfw'],
        [b, 3, 'mnist'],
      ]);
      expect(await queue.queueFor('nsfw').getJob(b)).toBeUndefined();
      expect((await reconciler.runOnce()).migrated).toBe(0);
    } finally {
      await legacy.obliterate({ force: true }).catch(() => {});
      await legacy.close();
      await close();
    }
  });

  it('fails a queued job whose model no live worker serves once it is older than noWorkerTimeoutMs, and only that one', async () => {
    let served: Set<string> | undefined = new Set(['nsfw']);
    const { queue, reconciler, metrics, close } = await setup({
      noWorkerTimeoutMs: 40_000,
      servedModels: async () => served,
    });
    try {
      const unserved = await jobRow(60_000, { model: 'mnist' });
      const young = await jobRow(20_000, { model: 'mnist' });
      const servedJob = await jobRow(60_000);
      for (const [id, model] of [
        [unserved, 'mnist'],
        [young, 'mnist'],
        [servedJob, 'nsfw'],
      ] as const)
        await queue.enqueue({ jobId: id, model });

      // While the workers cannot be read, nothing is failed.
      served = undefined;
      expect((await reconciler.runOnce()).failedNoWorker).toBe(0);
      served = new Set(['nsfw']);
      const report = await reconciler.runOnce();
      expect(report.failedNoWorker).toBe(1);
      expect(await statusOf(unserved)).toEqual({ status: 'failed', errorCode: 'NO_WORKER' });
      expect(await queue.state(unserved, 'mnist')).toBe('unknown');
      expect(await statusOf(young)).toEqual({ status: 'queued', errorCode: null });
      expect(await statusOf(servedJob)).toEqual({ status: 'queued', errorCode: null });
      expect(await metrics.registry.getSingleMetricAsString('inferq_reconciler_actions_total')).toContain(
        'action="failed_no_worker"} 1',
      );
    } finally {
      await close();
    }
  });
});

describe('LeaderLock', () => {
  it('is held by one owner at a time, renewed by its holder, and free again once released or lapsed', async () => {
    const key = `${services.queuePrefix}:lock-${randomUUID()}`;
    const first = new LeaderLock({ connection: redis, key, owner: 'a', ttlMs: 300 });
    const second = new LeaderLock({ connection: redis, key, owner: 'b', ttlMs: 300 });
    expect(await first.acquire()).toBe(true);
    expect(await second.acquire()).toBe(false);
    expect(await first.acquire()).toBe(true);
    await first.release();
    expect(await second.acquire()).toBe(true);
    expect(await first.acquire()).toBe(false);
    // Free once the second owner's lease lapses in Redis (nobody renews it).
    await vi.waitFor(async () => expect(await first.acquire()).toBe(true), { timeout: 10_000, interval: 25 });
    await first.release();
  });
});
