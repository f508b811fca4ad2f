import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { InferenceQueue } from '../src/index.ts';
import { closeTestQueue, openTestQueue } from '../src/testing.ts';

describe('InferenceQueue.enqueueMany', () => {
  let queue: InferenceQueue;

  beforeAll(async () => {
    queue = await openTestQueue({ url: inject('redisUrl'), prefix: inject('queuePrefix') });
  });
  afterAll(() => closeTestQueue(queue));

  it('queues every job with its own id and priority, and leaves a job already queued as it is', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    await queue.enqueueMany(ids.map((jobId, i) => ({ payload: { jobId, model: 'nsfw' }, priority: 10 + i })));
    await queue.enqueueMany([{ payload: { jobId: ids[0]!, model: 'nsfw' }, priority: 99 }]);
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id, 'nsfw')));
    expect(jobs.map((job) => job?.opts.priority)).toEqual([10, 11, 12]);
    expect(jobs.map((job) => job?.data.jobId)).toEqual(ids);
    expect(await queue.inFlightCount()).toBe(3);
  });

  it('refuses a payload that breaks the job catalog before anything is sent', async () => {
    await expect(queue.enqueueMany([{ payload: { jobId: 'not-a-uuid', model: 'nsfw' } }])).rejects.toThrow();
    expect(await queue.inFlightCount()).toBe(3);
  });
});
