import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inject } from 'vitest';
import { WorkerHeartbeatLoop, WorkerRegistry, type WorkerHeartbeat } from '../src/index.ts';

function heartbeat(workerId: string, overrides: Partial<WorkerHeartbeat> = {}): WorkerHeartbeat {
  const now = new Date().toISOString();
  return {
    workerId,
    host: 'host-a',
    pid: 42,
    backend: 'wasm',
    queue: 'inference',
    models: [{ name: 'nsfw', version: '4.4.0' }],
    currentBatch: 0,
    activeJobs: 0,
    jobsSucceeded: 0,
    jobsFailed: 0,
    startedAt: now,
    heartbeatAt: now,
    ...overrides,
  };
}

describe('WorkerRegistry', () => {
  let redis: Redis;
  // A prefix of its own: the registry lists every worker under a prefix.
  const prefix = `registry-test-${randomUUID()}`;

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('lists live workers with what they announced, and forgets one that stops cleanly at once', async () => {
    const registry = new WorkerRegistry({ connection: redis, prefix });
    await registry.beat(heartbeat('w-b', { jobsSucceeded: 7, currentBatch: 3 }));
    await registry.beat(heartbeat('w-a'));
    const live = await registry.list();
    expect(live.map((worker) => worker.workerId)).toEqual(['w-a', 'w-b']);
    expect(live[1]).toMatchObject({ jobsSucceeded: 7, currentBatch: 3, models: [{ name: 'nsfw', version: '4.4.0' }] });

    await registry.remove('w-a');
    expect((await registry.list()).map((worker) => worker.workerId)).toEqual(['w-b']);
    await registry.remove('w-b');
  });

  it('drops a worker whose heartbeat expired (it died without a word), and its set entry too', async () => {
    const registry = new WorkerRegistry({ connection: redis, prefix, ttlMs: 150 });
    await registry.beat(heartbeat('w-dead'));
    expect(await registry.list()).toHaveLength(1);
    // Redis expires the key on its own clock: wait for that, however long the machine takes.
    await vi.waitFor(async () => expect(await registry.list()).toEqual([]), { timeout: 10_000, interval: 25 });
    expect(await redis.smembers(`${prefix}:registry:workers`)).toEqual([]);
  });

  it('ignores an entry that is not a heartbeat (an older or foreign shape)', async () => {
    const registry = new WorkerRegistry({ connection: redis, prefix });
    await redis
      .multi()
      .set(`${prefix}:registry:worker:odd`, '{"workerId":1}', 'PX', 5000)
      .sadd(`${prefix}:registry:workers`, 'odd')
      .exec();
    expect(await registry.list()).toEqual([]);
  });

  it('the loop beats at once and on its interval, with fresh numbers, and removes the worker on stop', async () => {
    const registry = new WorkerRegistry({ connection: redis, prefix, ttlMs: 1000 });
    let done = 0;
    const loop = new WorkerHeartbeatLoop({
      registry,
      intervalMs: 50,
      describe: () => heartbeat('w-loop', { jobsSucceeded: done }),
    });
    loop.start();
    await expect.poll(async () => (await registry.list())[0]?.jobsSucceeded).toBe(0);
    done = 5;
    await expect.poll(async () => (await registry.list())[0]?.jobsSucceeded).toBe(5);
    await loop.stop();
    expect(await registry.list()).toEqual([]);
  });
});
