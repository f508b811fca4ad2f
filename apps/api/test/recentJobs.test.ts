import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, JobExecution } from '@inferq/db';
import { validJpeg } from '@inferq/images/testing';
import { JobWaiter, RecentJobs } from '@inferq/jobs';
import { JobLifecycle } from '@inferq/lifecycle';
import { createRedisConnection, JobEventPublisher, JobEventSubscriber } from '@inferq/queue';
import { createTestUser } from '@inferq/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';
import { CountingJobQueries } from './countingJobQueries.ts';

let api: TestApi;
let queries: CountingJobQueries;
let subscribed: ReturnType<typeof createRedisConnection>;
let subscriber: JobEventSubscriber;
let recent: RecentJobs;
let waiter: JobWaiter;
let lifecycle: JobLifecycle;
let execution: JobExecution;
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  // The channel the API's own lifecycle announces on (its queue's prefix), as apiProcess wires it.
  const prefix = inject('queuePrefix');
  subscribed = createRedisConnection({ url: inject('redisUrl'), role: 'consumer' });
  const publishing = createRedisConnection({ url: inject('redisUrl'), role: 'consumer' });
  closers.push(
    () => subscribed.disconnect(),
    () => publishing.disconnect(),
  );
  subscriber = new JobEventSubscriber({ connection: subscribed, prefix });
  await subscriber.start();
  recent = new RecentJobs({ subscriber });
  recent.start();
  const db = createDatabase({ url: inject('databaseUrl') });
  closers.push(() => db.$disconnect());
  queries = new CountingJobQueries(db);
  execution = new JobExecution(db);
  // As a worker finishes jobs: the status write returns the rows, and `succeeded` carries them.
  lifecycle = new JobLifecycle({ execution, events: new JobEventPublisher({ connection: publishing, prefix }) });
  waiter = new JobWaiter({ subscriber, read: (ids) => queries.getMany(ids), recent });
  api = await startTestApi({
    queries,
    waiter,
    recent,
    tierOverrides: { free: { requestsPerWindow: 100_000, submitsPerWindow: 10_000 } },
  });
});
afterAll(async () => {
  await api?.close();
  recent?.close();
  await subscriber?.close();
  for (const close of closers) await close();
});

async function submit(headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${api.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: { ...api.user.headers, ...headers },
    body: imageForm(await validJpeg(64, 64)),
  });
}

function getJob(id: string, query = ''): Promise<Response> {
  return fetch(`${api.baseUrl}/v1/jobs/${id}${query}`, { headers: api.user.headers });
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function succeed(id: string, score: number): Promise<void> {
  await execution.startMany([id], 'worker-9');
  const [written] = await lifecycle.succeed([
    {
      id,
      userId: api.user.userId,
      model: 'nsfw',
      workerId: 'worker-9',
      inferenceMs: 5,
      result: {
        modelName: 'nsfw',
        modelVersion: '4.4.0',
        output: [[1 - score, score]],
        labels: [{ label: 'Neutral', score }],
      },
    },
  ]);
  await written?.announced;
}

describe('waiting for a job this process admitted', () => {
  it('reads no row to wait, nor to answer from the finished row its event carries; the answer is what a read gives', async () => {
    const submitted = await submit();
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const readsBefore = queries.reads;
    const answer = getJob(id, '?wait=30');
    await until(() => waiter.size === 1);
    expect(queries.reads - readsBefore).toBe(0);
    await succeed(id, 0.75);
    const waited = await (await answer).json();
    expect(queries.reads - readsBefore).toBe(0);
    expect(waited).toMatchObject({ id, status: 'succeeded' });
    // Once it has finished, a wait is answered at once, still without a read.
    const again = await (await getJob(id, '?wait=30')).json();
    expect(queries.reads - readsBefore).toBe(0);
    expect(again).toEqual(waited);
    expect(await (await getJob(id)).json()).toEqual(waited);
  });

  it('answers a submit that asks to wait (Prefer: wait) with no read of the row', async () => {
    const readsBefore = queries.reads;
    const answer = submit({ prefer: 'wait=30' });
    // The job's id is only in the answer: finish the user's newest job once the submit waits for it.
    await until(() => waiter.size === 1);
    const listed = await (await fetch(`${api.baseUrl}/v1/jobs?limit=1`, { headers: api.user.headers })).json();
    const id = (listed as { data: Array<{ id: string }> }).data[0]!.id;
    expect(recent.known(id)?.status).toBe('queued');
    await succeed(id, 0.6);
    const response = await answer;
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id, status: 'succeeded' });
    expect(queries.reads - readsBefore).toBe(0);
  });

  it('reads the row once the subscription may have missed an event (a reconnect), and answers right', async () => {
    const { id } = (await (await submit()).json()) as { id: string };
    expect(recent.known(id)?.status).toBe('queued');
    const stretch = subscriber.unbroken;
    subscribed.disconnect(true);
    await until(() => subscriber.unbroken !== null && subscriber.unbroken !== stretch);
    // Not known any more: an event may have gone by while the connection was down.
    expect(recent.known(id)).toBeNull();
    await succeed(id, 0.9);
    const readsBefore = queries.reads;
    const body = await (await getJob(id, '?wait=30')).json();
    expect(body).toMatchObject({ id, status: 'succeeded' });
    expect(queries.reads - readsBefore).toBe(1);
  });

  it('answers a job deleted here 404 at once, and another user never sees it', async () => {
    const { id } = (await (await submit()).json()) as { id: string };
    const deleted = await fetch(`${api.baseUrl}/v1/jobs/${id}`, { method: 'DELETE', headers: api.user.headers });
    expect(deleted.status).toBe(204);
    expect(recent.known(id)).toBeNull();
    const started = Date.now();
    expect((await getJob(id, '?wait=30')).status).toBe(404);
    expect(Date.now() - started).toBeLessThan(5000);

    const { id: kept } = (await (await submit()).json()) as { id: string };
    const stranger = await createTestUser(inject('databaseUrl'));
    const other = await fetch(`${api.baseUrl}/v1/jobs/${kept}?wait=30`, { headers: stranger.headers });
    expect(other.status).toBe(404);
    expect(waiter.size).toBe(0);
  });
});
