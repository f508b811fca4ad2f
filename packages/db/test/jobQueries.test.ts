import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTestUser, TestJobs } from '@inferq/testing';
import { createDatabase, JobQueries, jobRecordFromJson } from '../src/index.ts';

const db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
afterAll(() => db.$disconnect());

describe('JobQueries.getMany', () => {
  it('reads jobs in the order asked, each as get reads it, with null for an id that has no row', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const writer = new TestJobs(db);
    const queries = new JobQueries(db);
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids)
      await writer.create({
        id,
        userId,
        modelName: 'nsfw',
        input: { data: Buffer.from('x'), format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
      });
    await writer.completeMany([
      {
        id: ids[1]!,
        workerId: 'test',
        inferenceMs: 2,
        result: {
          modelName: 'nsfw',
          modelVersion: '1.0.0',
          output: [[0.3, 0.7]],
          labels: [{ label: 'Neutral', score: 0.7 }],
        },
      },
    ]);
    const missing = randomUUID();
    const asked = [ids[2]!, missing, ids[1]!, ids[0]!];
    const many = await queries.getMany(asked);
    expect(many.map((job) => job?.id ?? null)).toEqual([ids[2], null, ids[1], ids[0]]);
    expect(many).toEqual(await Promise.all(asked.map((id) => queries.get(id))));
    expect(many[2]?.status).toBe('succeeded');
    expect(await queries.getMany([missing])).toEqual([null]);
  });
});

describe('JobExecution.completeManyRecords', () => {
  it('answers each job it finished as a read of the row returns it, and that record survives JSON', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const writer = new TestJobs(db);
    const queries = new JobQueries(db);
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const [i, id] of ids.entries())
      await writer.create({
        id,
        userId,
        modelName: 'nsfw',
        metadata: { order: `A-${i}`, region: 'eu-west' },
        input: {
          data: Buffer.from('x'),
          format: 'jpeg',
          width: 64,
          height: 64,
          sha256: '0'.repeat(64),
          fileName: `${i}.jpg`,
        },
      });
    await writer.start(ids[0]!, 'worker-1');
    // Canceled before its result came: not finished by this call, so not answered.
    await writer.execution.cancel(ids[2]!);
    const finished = await writer.execution.completeManyRecords(
      ids.map((id, i) => ({
        id,
        workerId: 'worker-1',
        inferenceMs: 3.6 + i,
        heldMs: 1.2,
        result: {
          modelName: 'nsfw',
          modelVersion: '4.4.0',
          engine: 'onnxruntime-cpu',
          output: [[0.1 + i / 7, 0.9 - i / 7]],
          labels: [{ label: 'Neutral', score: 0.9 - i / 7 }],
        },
      })),
    );
    expect(finished.map((entry) => entry.id).sort()).toEqual([ids[0], ids[1]].sort());
    for (const { id, record } of finished) {
      const read = await queries.get(id);
      expect(record).toEqual(read);
      expect(record?.result?.createdAt).toBeInstanceOf(Date);
      expect(jobRecordFromJson(JSON.parse(JSON.stringify(record)))).toEqual(read);
    }
    // A second write finishes nothing.
    expect(
      await writer.execution.completeManyRecords([
        {
          id: ids[0]!,
          workerId: 'w',
          inferenceMs: 1,
          result: { modelName: 'nsfw', modelVersion: '4.4.0', output: [[1]] },
        },
      ]),
    ).toEqual([]);
  });

  it('takes no JSON that is not a job record', () => {
    expect(jobRecordFromJson(null)).toBeNull();
    expect(jobRecordFromJson('job')).toBeNull();
    expect(jobRecordFromJson({ status: 'succeeded' })).toBeNull();
    expect(jobRecordFromJson({ id: 'a', createdAt: 'not a date', result: null })).toBeNull();
    expect(jobRecordFromJson({ id: 'a', createdAt: 5, result: null })).toBeNull();
    expect(jobRecordFromJson({ id: 'a', createdAt: '2026-12-06T10:00:00.000Z', result: 'x' })).toBeNull();
    expect(jobRecordFromJson({ id: 'a', createdAt: '2026-12-06T10:00:00.000Z' })).toEqual({
      id: 'a',
      createdAt: new Date('2026-12-06T10:00:00.000Z'),
      result: null,
    });
  });
});
