import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestUser } from '@inferq/testing';
import {
  createDatabase,
  JobAdmission,
  JobExecution,
  JobQueries,
  type AdmitRequest,
  type Database,
} from '../src/index.ts';

const input = { data: Buffer.alloc(64, 1), format: 'png', width: 64, height: 64, sha256: 'x' };
const request = (userId: string, maxInFlight: number, extra: { idempotencyKey?: string } = {}): AdmitRequest => ({
  job: {
    id: randomUUID(),
    userId,
    modelName: 'nsfw',
    input,
    ...(extra.idempotencyKey ? { idempotencyKey: extra.idempotencyKey } : {}),
  },
  limit: { maxInFlight, priorityFor: (n: number) => 10 + n },
});

/** Two pools stand for two API instances. */
describe('admitMany (group commit of admissions)', () => {
  let databases: Database[];
  let admissions: JobAdmission[];
  let queries: JobQueries;
  let execution: JobExecution;

  beforeAll(() => {
    databases = [
      createDatabase({ url: inject('databaseUrl'), poolSize: 6 }),
      createDatabase({ url: inject('databaseUrl'), poolSize: 6 }),
    ];
    admissions = databases.map((db) => new JobAdmission(db));
    queries = new JobQueries(databases[0]!);
    execution = new JobExecution(databases[0]!);
  });
  afterAll(async () => {
    await Promise.all(databases.map((db) => db.$disconnect()));
  });

  it('never lets concurrent batches from several instances pass a quota, with single admissions beside them', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const { userId: other } = await createTestUser(inject('databaseUrl'));
    const batches = Array.from({ length: 8 }, (_, i) =>
      admissions[i % 2]!.admitMany([request(userId, 7), request(other, 100), request(userId, 7), request(userId, 7)]),
    );
    const singles = Array.from({ length: 4 }, () => admissions[0]!.admit(request(userId, 7).job, { maxInFlight: 7 }));
    const outcomes = [...(await Promise.all(batches)).flat(), ...(await Promise.all(singles))].map(
      (result) => result.outcome,
    );
    expect(outcomes.filter((outcome) => outcome === 'created')).toHaveLength(7 + 8);
    expect(outcomes.filter((outcome) => outcome === 'over-quota')).toHaveLength(8 * 3 + 4 - 7);
    expect(await queries.countInFlight(userId)).toBe(7);
    expect(await queries.countInFlight(other)).toBe(8);
  });

  it('holds a quota under many groups of one user racing from two instances, each group read after its lock', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    // Every group waits on the lock of the one before it: a count read before the lock was
    // granted would miss the rows committed while waiting and let more than 10 in.
    const groups = Array.from({ length: 48 }, (_, i) =>
      admissions[i % 2]!.admitMany([request(userId, 10), request(userId, 10), request(userId, 10)]),
    );
    const outcomes = (await Promise.all(groups)).flat().map((result) => result.outcome);
    expect(outcomes.filter((outcome) => outcome === 'created')).toHaveLength(10);
    expect(outcomes.filter((outcome) => outcome === 'over-quota')).toHaveLength(48 * 3 - 10);
    expect(await queries.countInFlight(userId)).toBe(10);
  });

  it('counts one user once however the case of their id is written', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const results = await admissions[0]!.admitMany([
      request(userId, 2),
      request(userId.toUpperCase(), 2),
      request(userId.toUpperCase(), 2),
    ]);
    expect(results.map((result) => result.outcome)).toEqual(['created', 'created', 'over-quota']);
    expect(await queries.countInFlight(userId)).toBe(2);
  });

  it('refuses a user id that is not a UUID before it reaches Postgres', async () => {
    await expect(admissions[0]!.admitMany([request("x'); SELECT 1; --", 10)])).rejects.toThrow(/not a UUID/);
  });

  it('answers in order: each job its own outcome, priority by the count before it, inputs stored (read back unless the worker has its pixels)', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const requests = [request(userId, 3), request(userId, 3), request(userId, 3), request(userId, 3)];
    const results = await admissions[0]!.admitMany(requests);
    expect(results.map((result) => result.outcome)).toEqual(['created', 'created', 'created', 'over-quota']);
    expect(results.map((result) => (result.outcome === 'created' ? result.job.priority : null))).toEqual([
      10,
      11,
      12,
      null,
    ]);
    expect(results[3]).toMatchObject({ inFlight: 3, maxInFlight: 3 });
    const started = await execution.startMany([requests[0]!.job.id, requests[1]!.job.id], 'w', new Date(), [
      requests[1]!.job.id,
    ]);
    expect(started.get(requests[0]!.job.id)).toMatchObject({ input: input.data, hasInput: true, pixels: null });
    expect(started.get(requests[1]!.job.id)).toMatchObject({ input: null, hasInput: true });
    expect(await execution.inputOf(requests[1]!.job.id)).toEqual({ data: input.data });
    expect(await queries.get(requests[3]!.job.id)).toBeNull();
  });

  it('answers an idempotency key used before, or twice in the batch, with the one job', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const [first] = await admissions[0]!.admitMany([request(userId, 10, { idempotencyKey: 'a' })]);
    if (first?.outcome !== 'created') throw new Error('expected the first job to be created');
    const results = await admissions[1]!.admitMany([
      request(userId, 10, { idempotencyKey: 'a' }),
      // Keys go into the statement's text as literals: quotes and backslashes stay themselves.
      request(userId, 10, { idempotencyKey: "b'\\" }),
      request(userId, 10, { idempotencyKey: "b'\\" }),
    ]);
    expect(results.map((result) => result.outcome)).toEqual(['duplicate', 'created', 'duplicate']);
    expect(results[0]!.outcome === 'duplicate' && results[0]!.job.id).toBe(first.job.id);
    const made = results[1]!;
    expect(
      made.outcome === 'created' && results[2]!.outcome === 'duplicate' && results[2]!.job.id === made.job.id,
    ).toBe(true);
    expect(await queries.countInFlight(userId)).toBe(2);
    const [again] = await admissions[0]!.admitMany([request(userId, 10, { idempotencyKey: "b'\\" })]);
    expect(
      again!.outcome === 'duplicate' &&
        made.outcome === 'created' &&
        again!.job.id === made.job.id &&
        again!.job.idempotencyKey,
    ).toBe("b'\\");
  });

  it('writes nothing when the transaction fails', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const good = request(userId, 10);
    const bad = request(userId, 10);
    bad.job.id = good.job.id; // a primary-key conflict fails the one INSERT
    await expect(admissions[0]!.admitMany([good, bad])).rejects.toThrow();
    expect(await queries.countInFlight(userId)).toBe(0);
  });
});
