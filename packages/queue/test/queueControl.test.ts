import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { modelQueueName } from '@inferq/core';
import { InferenceQueue, queuesPaused, setQueuesPaused } from '../src/index.ts';

describe('setQueuesPaused', () => {
  let redis: Redis;
  let queues: InferenceQueue[];
  const prefix = inject('queuePrefix');

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    // Two sets of queues (an InferenceQueue has one per model; here the registry has nsfw only).
    queues = [0, 1].map(
      () => new InferenceQueue({ connection: redis, name: `control-${randomUUID()}`, prefix, models: () => ['nsfw'] }),
    );
  });
  afterAll(async () => {
    for (const entry of queues) {
      await entry.obliterate();
      await entry.close();
    }
    redis.disconnect();
  });

  it('pauses and resumes every queue given, idempotently, and a paused queue hands out its jobs once resumed', async () => {
    expect(await queuesPaused(queues)).toEqual({ paused: false, queues: queues.map((entry) => entry.name) });
    expect((await setQueuesPaused(queues, true)).paused).toBe(true);
    expect(await Promise.all(queues.map((entry) => entry.queueFor('nsfw').isPaused()))).toEqual([true, true]);
    expect((await setQueuesPaused(queues, true)).paused).toBe(true);

    // Submissions still go in while paused, and wait there.
    const jobId = randomUUID();
    await queues[0]!.enqueue({ jobId, model: 'nsfw' });
    expect(await queues[0]!.inFlightCount()).toBe(1);

    // One resumed, one not: the pair does not count as paused.
    await queues[1]!.queueFor('nsfw').resume();
    expect((await queuesPaused(queues)).paused).toBe(false);
    await queues[1]!.queueFor('nsfw').pause();

    const done = new Promise<string>((resolve) => {
      const worker: Worker = new Worker(modelQueueName('nsfw', queues[0]!.name), async (job) => job.id, {
        connection: redis.duplicate(),
        prefix,
        autorun: true,
      });
      worker.on('completed', (job) => {
        resolve(job.id!);
        void worker.close();
      });
      worker.on('error', () => {});
    });
    expect((await setQueuesPaused(queues, false)).paused).toBe(false);
    expect(await Promise.all(queues.map((entry) => entry.queueFor('nsfw').isPaused()))).toEqual([false, false]);
    expect(await done).toBe(jobId);
  });

  it('a model published after the pause gets a paused queue, in every process, and its jobs run once resumed; after the resume a new model starts unpaused', async () => {
    const name = `control-${randomUUID()}`;
    const registry = ['nsfw'];
    // Two API processes on the same queues; the second has never used any of them.
    const [first, second] = [0, 1].map(
      () => new InferenceQueue({ connection: redis, name, prefix, models: () => registry, modelsCacheMs: 0 }),
    );
    let worker: Worker | undefined;
    try {
      expect((await setQueuesPaused([first!], true)).paused).toBe(true);
      registry.push('mnist');
      const jobId = randomUUID();
      await second!.enqueue({ jobId, model: 'mnist' });
      expect(await second!.queueFor('mnist').isPaused()).toBe(true);
      // Pause means all: the new model's queue counts as paused with the rest.
      expect(await queuesPaused([first!])).toEqual({ paused: true, queues: [name] });
      const batch = [randomUUID(), randomUUID()];
      registry.push('digits');
      await second!.enqueueMany(batch.map((id) => ({ payload: { jobId: id, model: 'digits' } })));
      expect(await second!.queueFor('digits').isPaused()).toBe(true);

      const completed: string[] = [];
      worker = new Worker(modelQueueName('mnist', name), async (job) => job.id, {
        connection: redis.duplicate(),
        prefix,
        autorun: true,
      });
      worker.on('error', () => {});
      const done = new Promise<void>((resolve) =>
        worker!.on('completed', (job) => (completed.push(job.id!), resolve())),
      );
      await worker.waitUntilReady();
      expect(await second!.state(jobId, 'mnist')).not.toBe('completed');
      expect((await setQueuesPaused([first!], false)).paused).toBe(false);
      await done;
      expect(completed).toEqual([jobId]);
      expect(await second!.queueFor('digits').isPaused()).toBe(false);

      registry.push('letters');
      await second!.enqueue({ jobId: randomUUID(), model: 'letters' });
      expect(await second!.queueFor('letters').isPaused()).toBe(false);
    } finally {
      await worker?.close();
      await first!.obliterate();
      await Promise.all([first!.close(), second!.close()]);
    }
  });

  it('removes the entries of deleted jobs, and skips ids it does not have', async () => {
    const queue = queues[1]!;
    const ids = [randomUUID(), randomUUID()];
    for (const id of ids) await queue.enqueue({ jobId: id, model: 'nsfw' });
    const kept = randomUUID();
    await queue.enqueue({ jobId: kept, model: 'nsfw' });
    await queue.removeMany([...ids, randomUUID()]);
    expect(await Promise.all(ids.map((id) => queue.queueFor('nsfw').getJob(id)))).toEqual([undefined, undefined]);
    expect((await queue.queueFor('nsfw').getJob(kept))?.id).toBe(kept);
  });
});
