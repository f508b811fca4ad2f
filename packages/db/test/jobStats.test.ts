import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createTestUser } from '@inferq/testing';
import { createDatabase, JobStats, type Database } from '../src/index.ts';

/**
 * The stats read every finished job of the database, and other tests write jobs into it at the
 * same time; so each case looks at a window far in the past that only its own rows occupy.
 */
describe('JobStats', () => {
  let db: Database;
  let userId: string;

  beforeAll(async () => {
    db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
    userId = (await createTestUser(inject('databaseUrl'))).userId;
  });
  afterAll(async () => {
    await db.$disconnect();
  });

  async function finishedJob(
    createdAt: Date,
    options: { status: 'succeeded' | 'failed'; queueWaitMs: number; inferenceMs: number | null; totalMs: number },
  ) {
    await db.job.create({
      data: {
        id: randomUUID(),
        userId,
        status: options.status,
        modelName: 'nsfw',
        inputFormat: 'png',
        inputWidth: 64,
        inputHeight: 64,
        inputBytes: 10,
        inputSha256: '0'.repeat(64),
        createdAt,
        startedAt: new Date(createdAt.getTime() + options.queueWaitMs),
        finishedAt: new Date(createdAt.getTime() + options.totalMs),
        queueWaitMs: options.queueWaitMs,
        inferenceMs: options.inferenceMs,
      },
    });
  }

  it('counts and takes percentiles per bucket and over the window, and leaves empty buckets empty', async () => {
    const to = new Date(Date.UTC(2001, 0, 1, 12, 0, 0) + Math.floor(Math.random() * 1e6) * 3_600_000);
    const bucketStart = (index: number) => new Date(to.getTime() - (3 - index) * 60_000);
    // Bucket 0: ten jobs, queue waits 10..100 ms, inference 2..20 ms, end to end 100..1000 ms.
    for (let i = 1; i <= 10; i++) {
      await finishedJob(new Date(bucketStart(0).getTime() + 1000), {
        status: 'succeeded',
        queueWaitMs: i * 10,
        inferenceMs: i * 2,
        totalMs: i * 100,
      });
    }
    // Bucket 2: one failure. Bucket 1: nothing.
    await finishedJob(new Date(bucketStart(2).getTime() + 1000), {
      status: 'failed',
      queueWaitMs: 500,
      inferenceMs: null,
      totalMs: 2000,
    });

    const series = await new JobStats(db).series({ to, windowSeconds: 180, bucketSeconds: 60 });
    expect(series.buckets.map((bucket) => [bucket.succeeded, bucket.failed])).toEqual([
      [10, 0],
      [0, 0],
      [0, 1],
    ]);
    expect(series.buckets.map((bucket) => bucket.start.getTime())).toEqual(
      [0, 1, 2].map((index) => bucketStart(index).getTime()),
    );
    const first = series.buckets[0]!;
    expect(first.throughput).toBeCloseTo(10 / 60, 3);
    // percentile_cont interpolates: p50 of 10..100 step 10 is 55; p95 is 95.5; p99 is 99.1.
    expect(first.queueWaitMs).toEqual({ p50: 55, p95: 95.5, p99: 99.1 });
    expect(first.inferenceMs).toEqual({ p50: 11, p95: 19.1, p99: 19.8 });
    expect(first.endToEndMs).toEqual({ p50: 550, p95: 955, p99: 991 });
    expect(series.buckets[1]!.queueWaitMs).toEqual({ p50: null, p95: null, p99: null });
    expect(series.buckets[2]!.inferenceMs).toEqual({ p50: null, p95: null, p99: null });
    expect(series.totals).toMatchObject({ succeeded: 10, failed: 1, throughput: Math.round((11 / 180) * 1000) / 1000 });
    expect(series.totals.queueWaitMs.p50).toBe(60);
  });

  it('leaves out jobs that are unfinished, canceled, or finished outside the window', async () => {
    const to = new Date(Date.UTC(1990, 0, 1) + Math.floor(Math.random() * 1e6) * 3_600_000);
    await finishedJob(new Date(to.getTime() - 30_000), {
      status: 'succeeded',
      queueWaitMs: 1,
      inferenceMs: 1,
      totalMs: 1000,
    });
    await finishedJob(new Date(to.getTime() - 10_000), {
      status: 'succeeded',
      queueWaitMs: 1,
      inferenceMs: 1,
      totalMs: 20_000,
    }); // finishes after `to`
    await finishedJob(new Date(to.getTime() - 120_000), {
      status: 'succeeded',
      queueWaitMs: 1,
      inferenceMs: 1,
      totalMs: 1000,
    }); // before the window
    const series = await new JobStats(db).series({ to, windowSeconds: 60, bucketSeconds: 60 });
    expect(series.totals.succeeded).toBe(1);
  });

  it('reports one user’s submissions since a time and their unfinished jobs', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const since = new Date(Date.now() - 60_000);
    for (const status of ['queued', 'running', 'succeeded'] as const) {
      await db.job.create({
        data: {
          id: randomUUID(),
          userId: user.userId,
          status,
          modelName: 'nsfw',
          inputFormat: 'png',
          inputWidth: 1,
          inputHeight: 1,
          inputBytes: 1,
          inputSha256: '0',
        },
      });
    }
    await db.job.create({
      data: {
        id: randomUUID(),
        userId: user.userId,
        status: 'queued',
        modelName: 'nsfw',
        inputFormat: 'png',
        inputWidth: 1,
        inputHeight: 1,
        inputBytes: 1,
        inputSha256: '0',
        createdAt: new Date(Date.now() - 3_600_000),
      },
    });
    expect(await new JobStats(db).usage(user.userId, since)).toEqual({ submittedSince: 3, inFlight: 3 });
  });
});
