import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createRedisConnection, WorkerRegistry, type WorkerHeartbeat } from '@inferq/queue';
import type { PlatformProcess } from '@inferq/testing';
import { platformEnv, startWorkerProcess } from './platform.ts';

/** WORKER_PROCESSES=2: one supervisor, two worker processes, a dead one restarted, SIGTERM passed on. */
describe('worker supervisor', () => {
  const redis = createRedisConnection({ url: inject('redisUrl'), role: 'producer' });
  const registry = new WorkerRegistry({ connection: redis, prefix: inject('queuePrefix') });
  const id = `sup-${randomUUID().slice(0, 8)}`;
  let supervisor: PlatformProcess | undefined;

  afterAll(async () => {
    await supervisor?.stop();
    redis.disconnect();
  });

  async function children(): Promise<WorkerHeartbeat[]> {
    return (await registry.list()).filter((beat) => beat.workerId.startsWith(`${id}-`));
  }

  async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (ok(value)) return value;
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('runs two worker processes, restarts one that is killed, and stops both on SIGTERM', async () => {
    const env = platformEnv({
      extra: {
        WORKER_PROCESSES: '2',
        WORKER_MODELS: 'mnist',
        HEARTBEAT_INTERVAL_MS: '200',
        RECONCILE_INTERVAL_MS: '0',
      },
    });
    supervisor = (await startWorkerProcess({ ...env, workerId: id })).process;
    const first = await until(children, (beats) => beats.length === 2);
    expect(first.map((beat) => beat.workerId).sort()).toEqual([`${id}-1`, `${id}-2`]);
    expect(new Set(first.map((beat) => beat.pid)).size).toBe(2);
    expect(first.every((beat) => beat.pid !== supervisor!.child.pid)).toBe(true);

    const victim = first.find((beat) => beat.workerId === `${id}-1`)!;
    process.kill(victim.pid, 'SIGKILL');
    const restarted = await until(children, (beats) =>
      beats.some((beat) => beat.workerId === `${id}-1` && beat.pid !== victim.pid),
    );
    expect(restarted.find((beat) => beat.workerId === `${id}-2`)?.pid).toBe(
      first.find((beat) => beat.workerId === `${id}-2`)?.pid,
    );

    supervisor.kill('SIGTERM');
    expect(await supervisor.exited).toBe(0);
    // Each child removed its heartbeat on the way out.
    expect(await children()).toEqual([]);
  });
});
