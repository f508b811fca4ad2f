import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, ModelHistoryStore, type Database } from '@inferq/db';
import { createTestUser } from '@inferq/testing';
import { HistoryRecorder } from '../src/index.ts';

/**
 * Other tests write jobs into the same database at the same time: each case uses a model name of
 * its own and, for the counts, minutes far in the past that only its rows occupy.
 */
describe('HistoryRecorder', () => {
  let db: Database;
  let userId: string;

  beforeAll(async () => {
    db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
    userId = (await createTestUser(inject('databaseUrl'))).userId;
  });
  afterAll(async () => {
    await db.$disconnect();
  });

  async function job(
    model: string,
    createdAt: Date,
    outcome: { status: 'queued' | 'succeeded' | 'failed'; queueWaitMs?: number; finishedAfterMs?: number },
  ) {
    await db.job.create({
      data: {
        id: randomUUID(),
        userId,
        status: outcome.status,
        modelName: model,
        inputFormat: 'png',
        inputWidth: 64,
        inputHeight: 64,
        inputBytes: 10,
        inputSha256: '0'.repeat(64),
        createdAt,
        queueWaitMs: outcome.queueWaitMs ?? null,
        finishedAt:
          outcome.finishedAfterMs === undefined ? null : new Date(createdAt.getTime() + outcome.finishedAfterMs),
      },
    });
  }

  it('writes each minute per model once: counts, queue waits, the oldest waiting job and workers; reads ranges in buckets', async () => {
    const model = `hist-${randomUUID().slice(0, 8)}`;
    const minute = Date.UTC(2001, 0, 1, 9, 0);
    // 09:00: three submitted; two finish in it (waits 100 and 300 ms), one fails at 09:01.
    await job(model, new Date(minute + 1_000), { status: 'succeeded', queueWaitMs: 100, finishedAfterMs: 2_000 });
    await job(model, new Date(minute + 5_000), { status: 'succeeded', queueWaitMs: 300, finishedAfterMs: 2_000 });
    await job(model, new Date(minute + 50_000), { status: 'failed', queueWaitMs: 900, finishedAfterMs: 20_000 });
    // Queued since 08:59:30, as the sample sees it.
    await job(model, new Date(minute - 30_000), { status: 'queued' });

    const store = new ModelHistoryStore(db);
    const recorder = new HistoryRecorder({
      store,
      workersByModel: async () => new Map([[model, 2]]),
      retentionMs: 100 * 365 * 24 * 3600_000,
    });
    const now = new Date(minute + 2 * 60_000 + 5_000); // 09:02:05: 09:00 and 09:01 have ended
    expect(await recorder.record(now)).toBe(true);
    // The same minute again: nothing more is written.
    expect(await recorder.record(new Date(now.getTime() + 10_000))).toBe(false);

    const rows = await db.modelHistory.findMany({ where: { modelName: model }, orderBy: { minute: 'asc' } });
    // The last two minutes only: 08:59 (the queued job's) ended before this pass's window.
    expect(
      rows.map((row) => [
        row.minute.toISOString(),
        row.submitted,
        row.succeeded,
        row.failed,
        row.queueWaitP50Ms,
        row.queueWaitP95Ms,
      ]),
    ).toEqual([
      ['2001-01-01T09:00:00.000Z', 3, 2, 0, 200, 290],
      ['2001-01-01T09:01:00.000Z', 0, 0, 1, 900, 900],
    ]);
    // The sample goes into the last minute written: the oldest job had waited 2 min 35 s.
    expect(rows.at(-1)).toMatchObject({ oldestWaitingMs: 155_000, workers: 2 });

    const buckets = await store.read({
      from: new Date(minute - 3600_000),
      to: new Date(minute + 3600_000),
      bucketMinutes: 60,
      model,
    });
    expect(
      buckets.map((point) => [
        point.at.toISOString(),
        point.submitted,
        point.succeeded,
        point.failed,
        point.queueWaitP95Ms,
        point.oldestWaitingMs,
      ]),
    ).toEqual([['2001-01-01T09:00:00.000Z', 3, 2, 1, 900, 155_000]]);
  });

  it('deletes minutes past the retention', async () => {
    const model = `hist-${randomUUID().slice(0, 8)}`;
    const store = new ModelHistoryStore(db);
    const old = new Date(Date.UTC(2000, 0, 1));
    await db.modelHistory.create({ data: { modelName: model, minute: old, submitted: 1 } });
    const recorder = new HistoryRecorder({ store, workersByModel: async () => undefined, retentionMs: 24 * 3600_000 });
    await recorder.record(new Date(Date.UTC(2000, 0, 3)));
    expect(await db.modelHistory.count({ where: { modelName: model } })).toBe(0);
  });
});
