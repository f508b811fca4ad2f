import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestUser } from '@inferq/testing';
import { createDatabase, JobAdmission, JobQueries, type Database } from '../src/index.ts';

const input = { data: Buffer.alloc(64, 1), format: 'png', width: 64, height: 64, sha256: 'x' };

/** Two stores on two connection pools stand for two API instances. */
describe('JobAdmission.admit', () => {
  let databases: Database[];
  let stores: JobAdmission[];

  beforeAll(() => {
    databases = [
      createDatabase({ url: inject('databaseUrl'), poolSize: 6 }),
      createDatabase({ url: inject('databaseUrl'), poolSize: 6 }),
    ];
    stores = databases.map((db) => new JobAdmission(db));
  });
  afterAll(async () => {
    await Promise.all(databases.map((db) => db.$disconnect()));
  });

  it('never lets concurrent admissions from several instances pass the quota', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const outcomes = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        stores[i % 2]!.admit({ id: randomUUID(), userId, modelName: 'nsfw', input }, { maxInFlight: 5 }).then(
          (result) => result.outcome,
        ),
      ),
    );
    expect(outcomes.filter((outcome) => outcome === 'created')).toHaveLength(5);
    expect(outcomes.filter((outcome) => outcome === 'over-quota')).toHaveLength(11);
    expect(await new JobQueries(databases[0]!).countInFlight(userId)).toBe(5);
  });

  it('gives each job the priority for the count before it, and returns the duplicate of a key', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const priorities: Array<number | null> = [];
    for (let i = 0; i < 3; i++) {
      const result = await stores[0]!.admit(
        { id: randomUUID(), userId, modelName: 'nsfw', input, idempotencyKey: `k${i}` },
        { maxInFlight: 10, priorityFor: (n) => 10 + 4 * n },
      );
      if (result.outcome !== 'created') throw new Error(result.outcome);
      priorities.push(result.job.priority);
    }
    expect(priorities).toEqual([10, 14, 18]);
    const again = await stores[1]!.admit(
      { id: randomUUID(), userId, modelName: 'nsfw', input, idempotencyKey: 'k1' },
      { maxInFlight: 10 },
    );
    expect(again.outcome).toBe('duplicate');
    expect(await new JobQueries(databases[0]!).countInFlight(userId)).toBe(3);
  });
});
