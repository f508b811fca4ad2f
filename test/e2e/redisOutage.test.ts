import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { freePort, type PlatformProcess } from '@inferq/testing';
import { createTestUser, getJob, platformEnv, startApiProcess, stopAll, submit, type Caller } from './platform.ts';

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://127.0.0.1:${port}`).then(
      () => true,
      (error: { cause?: { code?: string } }) => error.cause?.code !== 'ECONNREFUSED',
    );
    if (up) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('redis-server did not start');
}

describe('Redis outage (a Redis server of this test only)', () => {
  let redis: ChildProcess | undefined;
  let api: PlatformProcess | undefined;
  let caller: Caller;

  beforeAll(async () => {
    const port = await freePort();
    redis = await startRedis(port);
    const started = await startApiProcess(platformEnv({ redisUrl: `redis://127.0.0.1:${port}` }));
    api = started.process;
    caller = { baseUrl: started.baseUrl, user: await createTestUser(inject('databaseUrl')) };
  });
  afterAll(async () => {
    await stopAll([api]);
    redis?.kill('SIGKILL');
  });

  it('answers 503 QUEUE_UNAVAILABLE within 2 s while Redis is down, stores nothing, and still serves polls', async () => {
    const image = await validJpeg(64, 64);
    const accepted = await submit(caller, image);

    redis!.kill('SIGKILL');
    await new Promise((resolve) => redis!.once('exit', resolve));

    for (let i = 0; i < 3; i++) {
      const form = new FormData();
      form.set('image', new Blob([new Uint8Array(image)]), 'a.jpg');
      const started = performance.now();
      const response = await fetch(`${caller.baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: caller.user.headers,
        body: form,
        signal: AbortSignal.timeout(5000),
      });
      const elapsed = performance.now() - started;
      expect(response.status).toBe(503);
      expect((await response.json()).error.code).toBe('QUEUE_UNAVAILABLE');
      expect(response.headers.get('retry-after')).toBeTruthy();
      expect(elapsed).toBeLessThan(2000);
    }

    // Polling reads Postgres only.
    const polled = await getJob(caller, accepted.id);
    expect(polled.status).toBe('queued');
    const ready = await fetch(`${caller.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).checks).toEqual({ postgres: true, redis: false });
  });
});
