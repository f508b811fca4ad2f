import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import type { JobAdmission } from '@inferq/db';
import type { InferenceQueue } from '@inferq/queue';
import { closeTestQueue, openTestQueue } from '@inferq/queue/testing';
import { QueueAdmission } from '../src/queueAdmission.ts';

describe('QueueAdmission.checkCapacity', () => {
  let queue: InferenceQueue;
  // checkCapacity reads the queues only; the admission writes are not reached.
  const admission = {} as JobAdmission;

  beforeAll(async () => {
    queue = await openTestQueue({ url: inject('redisUrl'), prefix: inject('queuePrefix') });
  });
  afterAll(() => closeTestQueue(queue));

  const enqueue = (count: number) =>
    queue.enqueueMany(Array.from({ length: count }, () => ({ payload: { jobId: randomUUID(), model: 'nsfw' } })));

  it('reuses a recent read under the cap, and reads again once it is older or the platform was full', async () => {
    const reused = new QueueAdmission({ admission, queue, maxQueuedJobs: 2, capacityReadMaxAgeMs: 60_000 });
    const fresh = new QueueAdmission({ admission, queue, maxQueuedJobs: 2, capacityReadMaxAgeMs: 0 });
    expect(await reused.checkCapacity()).toBe(0);
    await enqueue(2);
    // Within its age the first read stands (the per-job reservation still holds the cap)…
    expect(await reused.checkCapacity()).toBe(0);
    // …while a process that reads every time sees the full platform.
    await expect(fresh.checkCapacity()).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    // A full answer is never reused: once room is made, the next check sees it.
    await queue.obliterate();
    await queue.waitUntilReady();
    expect(await fresh.checkCapacity()).toBe(0);
  });
});
