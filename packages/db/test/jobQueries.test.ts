import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTestUser, TestJobs } from '@inferq/testing';
import { createDatabase, JobQueries } from '../src/index.ts';

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
