import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDatabase } from '@inferq/db';
import { JobWaiter } from '@inferq/jobs';
import { JobLifecycle } from '@inferq/lifecycle';
import { validJpeg } from '@inferq/images/testing';
import { createRedisConnection, JobEventPublisher, JobEventSubscriber } from '@inferq/queue';
import { createTestUser, TestJobs, type TestUser } from '@inferq/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';
import { CountingJobQueries } from './countingJobQueries.ts';

let api: TestApi;
let jobs: CountingJobQueries;
let writer: TestJobs;
let subscriber: JobEventSubscriber;
let publisher: JobEventPublisher;
let waiter: JobWaiter;
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  // A channel of this file's own, so no other test's events reach it.
  const prefix = `${inject('queuePrefix')}:${randomUUID()}`;
  const subscribed = createRedisConnection({ url: inject('redisUrl'), role: 'consumer' });
  const publishing = createRedisConnection({ url: inject('redisUrl'), role: 'consumer' });
  closers.push(
    () => subscribed.disconnect(),
    () => publishing.disconnect(),
  );
  subscriber = new JobEventSubscriber({ connection: subscribed, prefix });
  await subscriber.start();
  publisher = new JobEventPublisher({ connection: publishing, prefix });
  const db = createDatabase({ url: inject('databaseUrl') });
  closers.push(() => db.$disconnect());
  jobs = new CountingJobQueries(db);
  writer = new TestJobs(db);
  waiter = new JobWaiter({ subscriber, read: (ids) => jobs.getMany(ids) });
  api = await startTestApi({
    queries: jobs,
    waiter,
    tierOverrides: { free: { requestsPerWindow: 100_000, submitsPerWindow: 10_000 } },
  });
});
afterAll(async () => {
  await api?.close();
  await subscriber?.close();
  for (const close of closers) await close();
});

/** A queued job row of `user`, written as the API writes it (no worker runs in this file). */
async function queuedJob(user: TestUser = api.user): Promise<string> {
  const id = randomUUID();
  await writer.create({
    id,
    userId: user.userId,
    modelName: 'nsfw',
    input: { data: Buffer.from('x'), format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
  });
  return id;
}

/** Finishes jobs the way a worker does: the row first, then the event. */
async function finish(ids: string[]): Promise<void> {
  await writer.completeMany(
    ids.map((id) => ({
      id,
      workerId: 'test',
      inferenceMs: 3,
      result: {
        modelName: 'nsfw',
        modelVersion: '1.0.0',
        output: [[0.1, 0.9]],
        labels: [{ label: 'Neutral', score: 0.9 }],
      },
    })),
  );
  await publisher.publishMany(ids.map((jobId) => ({ jobId, userId: api.user.userId, status: 'succeeded' as const })));
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function getJob(id: string, query = '', headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(`${api.baseUrl}/v1/jobs/${id}${query}`, { headers: { ...api.user.headers, ...headers }, signal });
}

describe('GET /v1/jobs/:id?wait=N', () => {
  it('holds 200 waiters on 100 jobs with a bounded number of row reads, none while waiting, and answers each when its job finishes', async () => {
    const ids = await Promise.all(Array.from({ length: 100 }, () => queuedJob()));
    const listenersBefore = subscriber.listenerCount();
    const readsBefore = jobs.reads;
    const answers = ids.flatMap((id) => [getJob(id, '?wait=30'), getJob(id, '', { prefer: 'wait=30' })]);
    await until(() => waiter.size === 200);
    expect(subscriber.listenerCount()).toBe(listenersBefore + 200);
    const readsWhileSubscribing = jobs.reads - readsBefore;
    // One read per waiter at most (concurrent reads of one job are shared).
    expect(readsWhileSubscribing).toBeLessThanOrEqual(200);

    // Waiting costs nothing: no reads while the jobs stay queued.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(jobs.reads - readsBefore).toBe(readsWhileSubscribing);

    const statementsBefore = jobs.statements;
    await finish(ids);
    const responses = await Promise.all(answers);
    // The 100 final events arrive together, and the reads they start go in a few statements.
    expect(jobs.statements - statementsBefore).toBeLessThanOrEqual(10);
    expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
    const bodies = await Promise.all(responses.map((response) => response.json()));
    expect(bodies.map((body) => body.status)).toEqual(bodies.map(() => 'succeeded'));
    expect(
      responses.filter((_, index) => index % 2 === 1).map((response) => response.headers.get('preference-applied')),
    ).toEqual(ids.map(() => 'wait=30'));
    // The final read is shared by both waiters of a job: at most one per job.
    expect(jobs.reads - readsBefore - readsWhileSubscribing).toBeLessThanOrEqual(ids.length);
    expect(waiter.size).toBe(0);
    expect(subscriber.listenerCount()).toBe(listenersBefore);
  });

  it("answers from the row a worker's succeeded event carries, with no second read, the same answer a read gives", async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, () => queuedJob()));
    const readsBefore = jobs.reads;
    const answers = ids.map((id, i) =>
      getJob(id, i % 2 === 0 ? '?wait=30' : '', i % 2 === 0 ? {} : { prefer: 'wait=30' }),
    );
    await until(() => waiter.size === ids.length);
    const readsWhileSubscribing = jobs.reads - readsBefore;
    // As the worker finishes jobs: the status write returns the rows, and `succeeded` carries them.
    const lifecycle = new JobLifecycle({ execution: writer.execution, events: publisher });
    const written = await lifecycle.succeed(
      ids.map((id, i) => ({
        id,
        userId: api.user.userId,
        model: 'nsfw',
        workerId: 'worker-7',
        inferenceMs: 4 + i,
        heldMs: 2,
        result: {
          modelName: 'nsfw',
          modelVersion: '1.0.0',
          engine: 'onnxruntime-cpu',
          output: [[0.125 + i / 1000, 0.875 - i / 1000]],
          labels: [{ label: 'Neutral', score: 0.875 - i / 1000 }],
        },
      })),
    );
    await Promise.all(written.map((entry) => entry?.announced));
    const waited = await Promise.all(answers.map(async (response) => (await response).json()));
    expect(jobs.reads - readsBefore).toBe(readsWhileSubscribing);
    // Byte for byte what a read of the row answers now.
    const read = await Promise.all(ids.map(async (id) => (await getJob(id)).json()));
    expect(waited).toEqual(read);
    expect(waited.map((body) => [body.status, body.result.top[0].score])).toEqual(
      ids.map((_, i) => ['succeeded', 0.875 - i / 1000]),
    );
  });

  it('reads the row when a final event carries none, or one that is not the job', async () => {
    const [plain, other] = [await queuedJob(), await queuedJob()];
    const readsBefore = jobs.reads;
    const answers = [getJob(plain!, '?wait=30'), getJob(other!, '?wait=30')];
    await until(() => waiter.size === 2);
    await writer.completeMany(
      [plain!, other!].map((id) => ({
        id,
        workerId: 'test',
        inferenceMs: 3,
        result: { modelName: 'nsfw', modelVersion: '1.0.0', output: [[0.1, 0.9]] },
      })),
    );
    const stale = await writer.get(plain!);
    await publisher.publish({ jobId: plain!, userId: api.user.userId, status: 'succeeded' });
    // Another job's row under this job's event is not taken for it.
    await publisher.publish({ jobId: other!, userId: api.user.userId, status: 'succeeded' }, { ...stale!, id: plain! });
    const bodies = await Promise.all(answers.map(async (response) => (await response).json()));
    expect(bodies.map((body) => [body.id, body.status])).toEqual([
      [plain, 'succeeded'],
      [other, 'succeeded'],
    ]);
    expect(jobs.reads - readsBefore).toBe(4);
  });

  it('answers a job that is already final at once, whatever the wait', async () => {
    const [id] = [await queuedJob()];
    await finish([id!]);
    const started = Date.now();
    const response = await getJob(id!, '', { prefer: 'wait=999' });
    expect(response.status).toBe(200);
    expect(response.headers.get('preference-applied')).toBe('wait=60');
    expect((await response.json()).status).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('answers the job as it is when the wait ends first, with no second read', async () => {
    const id = await queuedJob();
    const readsBefore = jobs.reads;
    const response = await getJob(id, '?wait=1');
    expect(response.status).toBe(200);
    expect((await response.json()).status).toBe('queued');
    expect(jobs.reads - readsBefore).toBe(1);
  });

  it('stops listening when the client goes away', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => queuedJob()));
    const listenersBefore = subscriber.listenerCount();
    const controller = new AbortController();
    const pending = ids.map((id) => getJob(id, '?wait=60', {}, controller.signal).catch((error: Error) => error.name));
    await until(() => waiter.size === 20);
    controller.abort();
    expect(await Promise.all(pending)).toEqual(ids.map(() => 'AbortError'));
    await until(() => waiter.size === 0);
    expect(subscriber.listenerCount()).toBe(listenersBefore);
  });

  it("answers another user's job 404 JOB_NOT_FOUND without waiting", async () => {
    const other = await createTestUser(inject('databaseUrl'));
    const id = await queuedJob(other);
    const response = await getJob(id, '?wait=30');
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('JOB_NOT_FOUND');
    expect(waiter.size).toBe(0);
  });

  // One rule for both ways of asking: whole seconds, clamped to 60, and the applied wait announced.
  it.each([
    ['?wait=120', {}, 'wait=60'],
    ['?wait=99999999999999999999', {}, 'wait=60'],
    ['', { prefer: 'wait=99999999999999999999' }, 'wait=60'],
    ['?wait=60', {}, 'wait=60'],
    ['?wait=7', { prefer: 'wait=30' }, 'wait=7'],
    ['', { prefer: 'wait=120' }, 'wait=60'],
    ['', { prefer: 'wait' }, 'wait=60'],
    ['', { prefer: 'respond-async, Wait ; foo=bar' }, 'wait=60'],
    ['', { prefer: 'wait=abc' }, null],
    ['', {}, null],
  ])('answers %s with Prefer %o by applying and announcing %s', async (query, headers, applied) => {
    const id = await queuedJob();
    await finish([id]);
    const response = await getJob(id, query, headers);
    expect(response.status).toBe(200);
    expect(response.headers.get('preference-applied')).toBe(applied);
    expect((await response.json()).status).toBe('succeeded');
  });

  it('waits the longest wait for a bare Prefer: wait', async () => {
    const id = await queuedJob();
    const before = waiter.size;
    const pending = getJob(id, '', { prefer: 'wait' });
    await until(() => waiter.size === before + 1);
    // Still held after 1.5 s: a bare wait is not ignored (it used to answer at once).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(waiter.size).toBe(before + 1);
    await finish([id]);
    const response = await pending;
    expect(response.headers.get('preference-applied')).toBe('wait=60');
    expect((await response.json()).status).toBe('succeeded');
  });

  it.each(['abc', '-1', '1.5', ''])('refuses ?wait=%s with 400 VALIDATION_FAILED', async (value) => {
    const id = await queuedJob();
    const response = await getJob(id, `?wait=${value}`);
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.details.field).toBe('wait');
  });
});

describe('ETag and If-None-Match', () => {
  it('answers 304 while the job is unchanged and 200 with a new ETag once it changed', async () => {
    const id = await queuedJob();
    const first = await getJob(id);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^W\/".+"$/);
    const unchanged = await getJob(id, '', { 'if-none-match': etag! });
    expect(unchanged.status).toBe(304);
    expect(await unchanged.text()).toBe('');

    await finish([id]);
    const changed = await getJob(id, '', { 'if-none-match': etag! });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect((await changed.json()).status).toBe('succeeded');
    expect((await getJob(id, '', { 'if-none-match': changed.headers.get('etag')! })).status).toBe(304);
  });
});

describe('POST /v1/jobs with Prefer: wait=N', () => {
  it('answers 200 with the result when the job finishes in time', async () => {
    const before = waiter.size;
    const pending = fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...api.user.headers, prefer: 'wait=30' },
      body: imageForm(await validJpeg(64, 64)),
    });
    await until(() => waiter.size === before + 1);
    const [row] = await jobs.db.job.findMany({
      where: { userId: api.user.userId },
      orderBy: { createdAt: 'desc' },
      take: 1,
    });
    await finish([row!.id]);
    const response = await pending;
    expect(response.status).toBe(200);
    expect(response.headers.get('preference-applied')).toBe('wait=30');
    const body = await response.json();
    expect(body).toMatchObject({ id: row!.id, status: 'succeeded', result: { top: [{ label: 'Neutral' }] } });
  });

  it('holds the answer for a bare Prefer: wait, announced as the longest wait', async () => {
    const before = waiter.size;
    const pending = fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...api.user.headers, prefer: 'wait' },
      body: imageForm(await validJpeg(64, 64)),
    });
    await until(() => waiter.size === before + 1);
    const [row] = await jobs.db.job.findMany({
      where: { userId: api.user.userId },
      orderBy: { createdAt: 'desc' },
      take: 1,
    });
    await finish([row!.id]);
    const response = await pending;
    expect(response.status).toBe(200);
    expect(response.headers.get('preference-applied')).toBe('wait=60');
    expect((await response.json()).status).toBe('succeeded');
  });

  it('answers 202 when the job is not final in time', async () => {
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...api.user.headers, prefer: 'wait=1' },
      body: imageForm(await validJpeg(64, 64)),
    });
    expect(response.status).toBe(202);
    expect(response.headers.get('preference-applied')).toBe('wait=1');
    expect((await response.json()).status).toBe('queued');
  });
});
