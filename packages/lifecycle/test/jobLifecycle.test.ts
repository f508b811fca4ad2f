import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, JobExecution, JobMaintenance, type Database } from '@inferq/db';
import { createRedisConnection, JobEventPublisher, jobEventsStreamKey } from '@inferq/queue';
import { createTestUser, startTestServices, TestJobs, type TestServices } from '@inferq/testing';
import { JobLifecycle, type FinishedCounter } from '../src/jobLifecycle.ts';

let services: TestServices;
let db: Database;
let redis: ReturnType<typeof createRedisConnection>;
let jobs: TestJobs;
let userId: string;

beforeAll(async () => {
  services = await startTestServices({ DATABASE_URL: inject('databaseUrl'), REDIS_URL: inject('redisUrl') });
  db = createDatabase({ url: services.databaseUrl, poolSize: 2 });
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
  lifecycle: JobLifecycle;
  /** The events announced so far, oldest first (read from the event log). */
  announced(): Promise<Array<{ jobId: string; status: string; userId: string | null; model: string }>>;
  counted: Array<{ model: string; status: string; code: string }>;
}

/** A lifecycle announcing on an event log of its own. */
function setup(): Setup {
  const prefix = `test-${randomUUID()}`;
  const counted: Setup['counted'] = [];
  const jobsFinished: FinishedCounter = { inc: (labels) => counted.push(labels) };
  const lifecycle = new JobLifecycle({
    execution: new JobExecution(db),
    maintenance: new JobMaintenance(db),
    events: new JobEventPublisher({ connection: redis, prefix }),
    jobsFinished,
  });
  return {
    lifecycle,
    counted,
    async announced() {
      // A publish goes out at the end of its turn of the event loop.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 20));
      const entries = await redis.xrange(jobEventsStreamKey(prefix), '-', '+');
      return entries.map(
        ([, fields]) =>
          JSON.parse(fields[1] as string) as { jobId: string; status: string; userId: string | null; model: string },
      );
    },
  };
}

async function queuedJob(fields: { startBy?: Date } = {}): Promise<{ id: string; userId: string; model: string }> {
  const id = randomUUID();
  await jobs.create({
    id,
    userId,
    modelName: 'nsfw',
    startBy: fields.startBy,
    input: { data: Buffer.from('bytes'), format: 'jpeg', width: 64, height: 64, sha256: 'x'.repeat(64) },
  });
  return { id, userId, model: 'nsfw' };
}

const statusOf = async (id: string) => (await jobs.get(id))?.status;

describe('JobLifecycle', () => {
  it('start: running for a job in time, expired for one past its ttl, each announced (expired counted)', async () => {
    const { lifecycle, announced, counted } = setup();
    const inTime = await queuedJob();
    const late = await queuedJob({ startBy: new Date(Date.now() - 1000) });
    const started = await lifecycle.start([inTime, late], 'w1');
    expect(started.get(inTime.id)?.expired).toBe(false);
    expect(started.get(late.id)?.expired).toBe(true);
    expect(await statusOf(inTime.id)).toBe('running');
    expect(await statusOf(late.id)).toBe('expired');
    expect((await announced()).map(({ jobId, status }) => [jobId, status])).toEqual([
      [inTime.id, 'running'],
      [late.id, 'expired'],
    ]);
    expect(counted).toEqual([{ model: 'nsfw', status: 'expired', code: 'EXPIRED' }]);
  });

  it('succeed: written rows are announced after their beforeAnnounce; a final row is not written, counted or announced', async () => {
    const { lifecycle, announced, counted } = setup();
    const running = await queuedJob();
    const canceled = await queuedJob();
    await lifecycle.start([running, canceled], 'w1');
    await jobs.cancel(canceled.id);
    const order: string[] = [];
    const result = { modelName: 'nsfw', modelVersion: '1', output: [[1]] };
    const answers = await lifecycle.succeed([
      { ...running, workerId: 'w1', inferenceMs: 5, result, beforeAnnounce: async () => order.push('copy') },
      { ...canceled, workerId: 'w1', inferenceMs: 5, result, beforeAnnounce: async () => order.push('never') },
    ]);
    expect(answers[1]).toBeNull();
    await answers[0]?.announced;
    order.push('announced');
    expect(order).toEqual(['copy', 'announced']);
    expect(await statusOf(running.id)).toBe('succeeded');
    expect(await statusOf(canceled.id)).toBe('canceled');
    expect((await announced()).filter(({ status }) => status === 'succeeded').map(({ jobId }) => jobId)).toEqual([
      running.id,
    ]);
    expect(counted).toEqual([{ model: 'nsfw', status: 'succeeded', code: '' }]);
  });

  it('fail: counted and announced once; a second fail changes nothing and says so', async () => {
    const { lifecycle, announced, counted } = setup();
    const job = await queuedJob();
    expect(await lifecycle.fail(job, 'TIMEOUT', 'slow')).toBe(true);
    expect(await lifecycle.fail(job, 'INTERNAL', 'again')).toBe(false);
    expect((await jobs.get(job.id))?.errorCode).toBe('TIMEOUT');
    expect(await announced()).toEqual([
      expect.objectContaining({ jobId: job.id, status: 'failed', userId, model: 'nsfw' }),
    ]);
    expect(counted).toEqual([{ model: 'nsfw', status: 'failed', code: 'TIMEOUT' }]);
  });

  it('retryAttempt and failUnreadable write without announcing', async () => {
    const { lifecycle, announced } = setup();
    const retried = await queuedJob();
    const unreadable = await queuedJob();
    await lifecycle.start([retried], 'w1');
    await lifecycle.retryAttempt(retried.id, 'INTERNAL', 'Attempt failed; retrying.');
    expect(await lifecycle.failUnreadable(unreadable.id, 'INVALID_JOB_ID', 'bad payload')).toBe(true);
    expect(await jobs.get(retried.id)).toMatchObject({ status: 'queued', errorCode: 'INTERNAL' });
    expect(await statusOf(unreadable.id)).toBe('failed');
    expect((await announced()).map(({ status }) => status)).toEqual(['running']);
  });

  it('cancel: the queue removal runs before canceled is announced; a final job is left alone', async () => {
    const { lifecycle, announced } = setup();
    const job = await queuedJob();
    const steps: string[] = [];
    expect(await lifecycle.cancel(job, async () => steps.push('removed'))).toBe(true);
    expect(await lifecycle.cancel(job, async () => steps.push('again'))).toBe(false);
    expect(steps).toEqual(['removed']);
    expect(await statusOf(job.id)).toBe('canceled');
    expect((await announced()).map(({ jobId, status }) => [jobId, status])).toEqual([[job.id, 'canceled']]);
  });

  it('requeueFailed: queued again and announced after the enqueue; a failed enqueue puts the old error back and announces nothing', async () => {
    const { lifecycle, announced } = setup();
    const job = await queuedJob();
    const other = await queuedJob();
    await jobs.fail(job.id, 'INTERNAL', 'x');
    await jobs.fail(other.id, 'TIMEOUT', 'slow');
    const previous = { errorCode: 'TIMEOUT', errorMessage: 'slow' };
    expect((await lifecycle.requeueFailed({ ...job, ...previous }, async () => {}))?.status).toBe('queued');
    await expect(
      lifecycle.requeueFailed({ ...other, ...previous }, () => Promise.reject(new Error('QUEUE_UNAVAILABLE'))),
    ).rejects.toThrow('QUEUE_UNAVAILABLE');
    // Never left looking queued without a queue entry: failed again with the error it had.
    expect(await jobs.get(other.id)).toMatchObject({ status: 'failed', errorCode: 'TIMEOUT', errorMessage: 'slow' });
    expect(await lifecycle.requeueFailed({ ...(await queuedJob()), ...previous }, async () => {})).toBeNull(); // not failed
    expect((await announced()).map(({ jobId, status }) => [jobId, status])).toEqual([[job.id, 'queued']]);
  });

  it('expireUnstarted: past-ttl queued jobs expire, go through beforeAnnounce, then are counted and announced', async () => {
    const { lifecycle, announced, counted } = setup();
    await db.job.deleteMany({ where: { status: 'queued', startBy: { not: null } } }); // other tests' rows
    const late = await queuedJob({ startBy: new Date(Date.now() - 1000) });
    const inTime = await queuedJob({ startBy: new Date(Date.now() + 3600_000) });
    let handed: string[] = [];
    const expired = await lifecycle.expireUnstarted(
      new Date(),
      100,
      async (jobs) => (handed = jobs.map(({ id }) => id)),
    );
    expect(expired.map(({ id }) => id)).toEqual([late.id]);
    expect(handed).toEqual([late.id]);
    expect(await statusOf(inTime.id)).toBe('queued');
    expect((await announced()).map(({ jobId, status }) => [jobId, status])).toEqual([[late.id, 'expired']]);
    expect(counted).toEqual([{ model: 'nsfw', status: 'expired', code: 'EXPIRED' }]);
  });

  it('queued: announces admitted jobs', async () => {
    const { lifecycle, announced } = setup();
    const job = await queuedJob();
    await lifecycle.queued([job]);
    expect((await announced()).map(({ jobId, status }) => [jobId, status])).toEqual([[job.id, 'queued']]);
  });
});
