import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestUser } from '@inferq/testing';
import { createDatabase, JobAdmission, JobQueries, sqlPool, type Database } from '../src/index.ts';

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

  it("keeps one user's jobs in submission order: a job never gets ahead of that user's jobs still queued", async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const limit = { maxInFlight: 10, priorityFor: (n: number) => 10 + 4 * n };
    const admit = async () => {
      const result = await stores[0]!.admit({ id: randomUUID(), userId, modelName: 'nsfw', input }, limit);
      if (result.outcome !== 'created') throw new Error(result.outcome);
      return result.job;
    };
    const sql = sqlPool(databases[0]!);
    const finish = (...ids: string[]) =>
      sql.query("UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE id = ANY($1::uuid[])", [ids]);
    const [a, b, c] = [await admit(), await admit(), await admit()];
    expect([a.priority, b.priority, c.priority]).toEqual([10, 14, 18]);
    // The first two ran and finished, the third still waits: one job in flight would say 14, which
    // BullMQ would serve before the queued 18.
    await finish(a.id, b.id);
    const d = await admit();
    expect(d.priority).toBe(18);
    // Started jobs set no floor: with c running and d queued at 18, two in flight say 18 too.
    await sql.query("UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1", [c.id]);
    expect((await admit()).priority).toBe(18);
    // Nothing queued or running any more: back to the tier's own priority.
    await sql.query("UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE user_id = $1", [userId]);
    expect((await admit()).priority).toBe(10);
  });
});
