import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, JobExecution, JobMaintenance, type Database } from '@inferq/db';
import { createWorkerMetrics } from '@inferq/metrics';
import { createRedisConnection, InferenceQueue } from '@inferq/queue';
import { createTestUser, startTestServices, TestJobs, type TestServices } from '@inferq/testing';
import type { Redis } from 'ioredis';
import { LeaderLock } from '../src/leaderLock.ts';
import { Reconciler } from '../src/reconciler.ts';

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

async function setup(): Promise<Setup> {
  await db.job.deleteMany(); // each test starts from an empty table of its own
  const queue = new InferenceQueue({ connection: redis, name: `test-${randomUUID()}`, prefix: services.queuePrefix });
  await queue.queue.waitUntilReady();
  const metrics = createWorkerMetrics({ defaultMetrics: false });
  const reconciler = new Reconciler({
    execution: new JobExecution(db),
    maintenance: new JobMaintenance(db),
    queue,
    lock: new LeaderLock({ connection: redis, key: `${services.queuePrefix}:${queue.name}:leader`, owner: 'test', ttlMs: 5000 }),
    logger: pino({ level: 'silent' }),
    graceMs: 10_000,
    maxAgeMs: 3600_000,
    metrics,
  });
  return {
    queue,
    reconciler,
    metrics,
    async close() {
      await queue.queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    },
  };
}

/** A job row as the API writes it, created `ageMs` ago. */
async function jobRow(ageMs: number, fields: { status?: 'queued' | 'running' | 'succeeded'; expiresAt?: Date | null; priority?: number; version?: string } = {}): Promise<string> {
  const id = randomUUID();
  await jobs.create({
    id,
    userId,
    modelName: 'nsfw',
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
  const worker = new Worker(queue.name, null, { connection, prefix: services.queuePrefix, autorun: false });
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
      const entry = await queue.queue.getJob(lostQueued);
      expect(entry?.data).toEqual({ jobId: lostQueued, model: 'nsfw', modelVersion: '4.4.0' });
      expect(entry?.opts.priority).toBe(7);
      expect(await queue.queue.getJobState(lostRunning)).toBe('waiting');
      expect(await queue.queue.getJobState(young)).toBe('unknown');
      expect(await queue.queue.getJobState(finished)).toBe('unknown');

      // A second pass finds every job live in the queue: nothing to do.
      expect(await reconciler.runOnce()).toMatchObject({ requeued: 0, failedLost: 0, fixedFailed: 0 });
      expect(await queue.queue.count()).toBe(2);
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
      expect(await queue.queue.getJobState(ancient)).toBe('unknown');
    } finally {
      await close();
    }
  });

  it.each([
    ['the code the worker gave', 'PREPROCESSING_FAILED', 'failed', 'PREPROCESSING_FAILED'],
    ['INTERNAL for a reason that is not a code (stall limit)', 'job stalled more than allowable limit', 'failed', 'INTERNAL'],
    ['a re-run for a transient code', 'DATABASE_UNAVAILABLE', 'queued', null],
  ])('repairs a row whose queue entry failed while the row was not final: %s', async (_name, reason, status, code) => {
    const { queue, reconciler, metrics, close } = await setup();
    try {
      const id = await jobRow(60_000, { status: 'running' });
      await queue.enqueue({ jobId: id, model: 'nsfw' });
      await failNextJob(queue, reason);
      expect(await queue.queue.getJobState(id)).toBe('failed');

      await reconciler.runOnce();
      expect(await statusOf(id)).toMatchObject({ status: status === 'queued' ? 'running' : status, errorCode: code });
      if (status === 'queued') {
        expect(await queue.queue.getJobState(id)).toBe('waiting');
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
      expect(await queue.queue.getJobState(expired)).toBe('unknown');
      const kept = await db.job.count({ where: { id: { in: [neverExpires, notYet, unfinished] } } });
      expect(kept).toBe(3);
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
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await first.acquire()).toBe(true);
    await first.release();
  });
});
