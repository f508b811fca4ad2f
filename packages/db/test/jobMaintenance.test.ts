import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { JobStatus } from '@inferq/core';
import { createTestUser } from '@inferq/testing';
import { createDatabase, JobMaintenance, type Database } from '../src/index.ts';

/** Every case works on the rows of a user of its own, so tests running beside it keep theirs. */
describe("JobMaintenance: the operators' clean and bulk retry", () => {
  let db: Database;
  let maintenance: JobMaintenance;

  beforeAll(async () => {
    db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
    maintenance = new JobMaintenance(db);
  });
  afterAll(async () => {
    await db.$disconnect();
  });

  const hourMs = 3_600_000;

  async function job(userId: string, status: JobStatus, finishedHoursAgo: number | null): Promise<string> {
    const id = randomUUID();
    const finishedAt = finishedHoursAgo === null ? null : new Date(Date.now() - finishedHoursAgo * hourMs);
    await db.job.create({
      data: {
        id,
        userId,
        status,
        modelName: 'nsfw',
        inputFormat: 'png',
        inputWidth: 1,
        inputHeight: 1,
        inputBytes: 1,
        inputSha256: '0'.repeat(64),
        finishedAt,
        input: { create: { data: new Uint8Array([1]) } },
        ...(status === 'succeeded'
          ? { result: { create: { modelName: 'nsfw', modelVersion: '1', output: [[1]] } } }
          : {}),
      },
    });
    return id;
  }

  it('deletes only the chosen final statuses finished before the cut, with input and result, oldest first, up to the limit', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const oldSucceeded = [
      await job(userId, 'succeeded', 50),
      await job(userId, 'succeeded', 40),
      await job(userId, 'succeeded', 30),
    ];
    const oldCanceled = await job(userId, 'canceled', 48);
    const oldFailed = await job(userId, 'failed', 48);
    const recent = await job(userId, 'succeeded', 1);
    const queued = await job(userId, 'queued', null);
    const running = await job(userId, 'running', null);
    const cut = new Date(Date.now() - 24 * hourMs);

    expect(await maintenance.countFinished({ statuses: ['succeeded', 'canceled'], finishedBefore: cut, userId })).toBe(
      4,
    );
    const first = await maintenance.deleteFinished({
      statuses: ['succeeded', 'canceled'],
      finishedBefore: cut,
      userId,
      limit: 2,
    });
    // Oldest finish first: 50 h, then 48 h.
    expect(new Set(first.ids)).toEqual(new Set([oldSucceeded[0], oldCanceled]));
    expect(first.remaining).toBe(2);
    const second = await maintenance.deleteFinished({
      statuses: ['succeeded', 'canceled'],
      finishedBefore: cut,
      userId,
      limit: 100,
    });
    expect(new Set(second.ids)).toEqual(new Set([oldSucceeded[1], oldSucceeded[2]]));
    expect(second.remaining).toBe(0);

    const left = await db.job.findMany({ where: { userId }, select: { id: true } });
    expect(new Set(left.map((row) => row.id))).toEqual(new Set([oldFailed, recent, queued, running]));
    // Inputs and results went with their jobs (foreign keys cascade).
    expect(await db.jobInput.count({ where: { jobId: { in: [...first.ids, ...second.ids] } } })).toBe(0);
    expect(await db.jobResult.count({ where: { jobId: { in: [...first.ids, ...second.ids] } } })).toBe(0);
  });

  it("touches one user's jobs only when a user is given", async () => {
    const [a, b] = await Promise.all([createTestUser(inject('databaseUrl')), createTestUser(inject('databaseUrl'))]);
    const mine = await job(a.userId, 'failed', 10);
    const theirs = await job(b.userId, 'failed', 10);
    const { ids } = await maintenance.deleteFinished({
      statuses: ['failed'],
      finishedBefore: new Date(),
      userId: a.userId,
      limit: 10,
    });
    expect(ids).toEqual([mine]);
    expect(await maintenance.statusOf(theirs)).toBe('failed');
  });

  it('lists failed ids oldest failure first, with the total beyond the limit', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const failed = [await job(userId, 'failed', 3), await job(userId, 'failed', 2), await job(userId, 'failed', 1)];
    await job(userId, 'succeeded', 5);
    expect(await maintenance.listFailedIds({ userId, limit: 2 })).toEqual({ ids: failed.slice(0, 2), total: 3 });
  });
});
