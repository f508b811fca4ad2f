import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { shadowEntryId } from '@inferq/core';
import type { InferenceQueue } from '../src/index.ts';
import { closeTestQueue, openTestQueue } from '../src/testing.ts';

describe('InferenceQueue.enqueueShadows', () => {
  let queue: InferenceQueue;

  beforeAll(async () => {
    queue = await openTestQueue({ url: inject('redisUrl'), prefix: inject('queuePrefix') }, { maxShadowBacklog: 5 });
  });
  afterAll(() => closeTestQueue(queue));

  it("puts shadow runs on the model's shadow queue, never on its primary queue", async () => {
    const ids = [randomUUID(), randomUUID()];
    expect(await queue.enqueueShadows(ids.map((jobId) => ({ jobId, model: 'mnist', modelVersion: '1.1.0' })))).toBe(0);
    const shadows = queue.shadowQueueFor('mnist');
    expect(shadows.name).toBe(`${queue.baseName}.mnist.shadow`);
    const entries = await Promise.all(ids.map((id) => shadows.getJob(shadowEntryId(id))));
    expect(entries.map((entry) => entry?.data)).toEqual(
      ids.map((jobId) => ({ jobId, model: 'mnist', modelVersion: '1.1.0', shadow: true })),
    );
    expect(entries.map((entry) => entry?.opts.attempts)).toEqual([1, 1]);
    expect(await queue.queueFor('mnist').getWaitingCount()).toBe(0);
    // Shadows are not the users' jobs: the global cap does not count them.
    expect(await queue.inFlightCount()).toBe(0);
  });

  it('drops and counts the shadows beyond the backlog bound, per model', async () => {
    const ids = Array.from({ length: 6 }, () => randomUUID());
    // 2 already wait on mnist's shadow queue: room for 3 of these 6.
    expect(await queue.enqueueShadows(ids.map((jobId) => ({ jobId, model: 'mnist', modelVersion: '1.1.0' })))).toBe(3);
    expect(await queue.shadowQueueFor('mnist').getWaitingCount()).toBe(5);
    expect(await queue.shadowsDropped('mnist')).toBe(3);
    // The first ones in the group are the ones kept.
    expect(await queue.shadowQueueFor('mnist').getJob(shadowEntryId(ids[2]!))).toBeDefined();
    expect(await queue.shadowQueueFor('mnist').getJob(shadowEntryId(ids[3]!))).toBeUndefined();
    // Another model's backlog is its own.
    expect(await queue.enqueueShadows([{ jobId: randomUUID(), model: 'nsfw', modelVersion: '2.0.0' }])).toBe(0);
    expect(await queue.shadowsDropped('nsfw')).toBe(0);
  });
});
