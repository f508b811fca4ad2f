import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { ModelRegistry } from '@inferq/models';
import { createRedisConnection, JobEventSubscriber } from '@inferq/queue';
import { JobWaiter, registryCatalog, type ModelCatalog } from '@inferq/jobs';
import { imageForm, stalledUpload, startTestApi, type TestApi } from './apiHarness.ts';

let api: TestApi;
const closers: Array<() => unknown> = [];

/** The registry's catalog, except that a lookup can be held: a submission then keeps its slot. */
const catalog = registryCatalog(new ModelRegistry({ root: inject('modelsDir') }), { cacheMs: 0 });
let held: { entered: () => void; release: Promise<void> } | undefined;
const gatedCatalog: ModelCatalog = {
  async resolve(name, version) {
    const gate = held;
    if (gate) {
      held = undefined;
      gate.entered();
      await gate.release;
    }
    return catalog.resolve(name, version);
  },
};

beforeAll(async () => {
  const subscribed = createRedisConnection({ url: inject('redisUrl'), role: 'consumer' });
  closers.push(() => subscribed.disconnect());
  const subscriber = new JobEventSubscriber({
    connection: subscribed,
    prefix: `${inject('queuePrefix')}:${randomUUID()}`,
  });
  await subscriber.start();
  closers.push(() => subscriber.close());
  api = await startTestApi({
    maxConcurrentSubmits: 1,
    models: gatedCatalog,
    waiter: new JobWaiter({ subscriber, read: (ids) => Promise.all(ids.map((id) => api.jobs.get(id))) }),
    tierOverrides: { free: { submitsPerWindow: 10_000, requestsPerWindow: 10_000 } },
  });
});
afterAll(async () => {
  await api?.close();
  for (const close of closers.reverse()) await close();
});

const submit = async (headers: Record<string, string> = {}) =>
  fetch(`${api.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: { ...api.user.headers, ...headers },
    body: imageForm(await validJpeg(64, 48)),
  });

const storedJobs = () => api.deps.db.job.count({ where: { userId: api.user.userId } });

describe('submissions in progress per API process (MAX_CONCURRENT_SUBMITS)', () => {
  it('makes one more than the limit wait for the slot instead of refusing it, and stores it once the slot frees', async () => {
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    held = { entered, release: new Promise<void>((resolve) => (release = resolve)) };
    const before = await storedJobs();

    const first = submit();
    await inside; // the first submission holds the only slot
    const second = submit();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await storedJobs()).toBe(before); // the second waits its turn: nothing stored yet
    release();
    expect((await first).status).toBe(202);
    expect((await second).status).toBe(202);
    expect(await storedJobs()).toBe(before + 2);
  });

  it('holds no slot while an upload is still arriving', async () => {
    const stalled = stalledUpload(api, api.user, 1024 * 1024).req;
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await submit()).status).toBe(202);
    } finally {
      stalled.destroy();
    }
  });

  it('frees the slot once the job is stored: a submission waiting for its result (Prefer: wait) holds none', async () => {
    const waiting = submit({ prefer: 'wait=3' });
    // No worker runs here, so the first one waits its full 3 s; meanwhile others are taken.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await submit()).status).toBe(202);
    expect((await waiting).status).toBe(202);
  });
});
