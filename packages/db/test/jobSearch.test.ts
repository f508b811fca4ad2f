import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTestUser, TestJobs } from '@inferq/testing';
import { createDatabase, JobQueries } from '../src/index.ts';

const db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
const sql = new pg.Pool({ connectionString: inject('databaseUrl'), max: 1 });
afterAll(async () => {
  await db.$disconnect();
  await sql.end();
});

/** The job's search row, with its row version (xmin): the same version means it was not rewritten. */
async function searchRow(jobId: string) {
  const { rows } = await sql.query<{ text: string; metadata: unknown; version: string }>(
    'SELECT text, metadata, xmin::text AS version FROM job_search WHERE job_id = $1',
    [jobId],
  );
  return rows[0] ?? null;
}

describe('job_search', () => {
  it('is written with the job, whatever inserts it, and is what text and metadata filters match', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const tag = randomUUID().slice(0, 8);
    const id = randomUUID();
    await new TestJobs(db).create({
      id,
      userId,
      modelName: 'nsfw',
      input: {
        data: Buffer.from('x'),
        format: 'jpeg',
        width: 64,
        height: 64,
        sha256: '0'.repeat(64),
        fileName: `Holiday-${tag}.PNG`,
      },
    });
    expect(await searchRow(id)).toMatchObject({ text: `${id} holiday-${tag}.png`, metadata: null });

    const queries = new JobQueries(db);
    const ids = async (filter: Parameters<JobQueries['list']>[0]) => (await queries.list(filter)).map((job) => job.id);
    expect(await ids({ text: `holiday-${tag}`, limit: 10 })).toEqual([id]);
    expect(await ids({ text: id.slice(9, 23), userId, limit: 10 })).toEqual([id]);
    expect(await ids({ metadata: { batch: tag }, limit: 10 })).toEqual([]);

    // A later change of the metadata is followed.
    await db.job.update({ where: { id }, data: { metadata: { batch: tag, team: 'Red' } } });
    const text = (await searchRow(id))?.text.split(' ');
    expect(text?.slice(0, 2)).toEqual([id, `holiday-${tag}.png`]);
    expect(text?.slice(2).sort()).toEqual([tag, 'red'].sort());
    expect(await ids({ metadata: { batch: tag }, limit: 10 })).toEqual([id]);
    expect(await ids({ metadata: { batch: tag, team: 'Blue' }, limit: 10 })).toEqual([]);
    expect(await ids({ metadata: { batch: tag }, text: 'red', limit: 10 })).toEqual([id]);
  });

  it('is not rewritten by a status change, and goes with its job', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const jobs = new TestJobs(db);
    const id = randomUUID();
    await jobs.create({
      id,
      userId,
      modelName: 'nsfw',
      input: { data: Buffer.from('x'), format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
    });
    const written = await searchRow(id);
    expect(written).not.toBeNull();
    expect(await jobs.start(id, 'test-worker')).not.toBeNull();
    await jobs.completeMany([
      {
        id,
        workerId: 'test-worker',
        inferenceMs: 2,
        result: { modelName: 'nsfw', modelVersion: '1.0.0', output: [[0.3, 0.7]] },
      },
    ]);
    expect((await db.job.findUniqueOrThrow({ where: { id } })).status).toBe('succeeded');
    expect((await searchRow(id))?.version).toBe(written!.version);

    await db.job.delete({ where: { id } });
    expect(await searchRow(id)).toBeNull();
  });
});
