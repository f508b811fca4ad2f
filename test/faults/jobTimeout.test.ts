import { afterAll, expect, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { startApiProcess, startWorkerProcess, type PlatformProcess } from '@inferq/testing';
import { createTestUser, faultEnv, modelsWithVariant, report, submitOne, waitForFinal } from './faultHarness.ts';

const running: PlatformProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await Promise.all(running.map((child) => child.stop()));
  for (const cleanup of cleanups) await cleanup();
});

it("a job over its model's time limit fails with TIMEOUT after one attempt; the worker frees the slot and keeps serving", async () => {
  // `nsfw-slow`: the default model's weights under a manifest allowing 1 ms per attempt.
  const models = await modelsWithVariant('nsfw-slow', { timeoutMs: 1 });
  cleanups.push(models.remove);
  const env = faultEnv({
    modelsDir: models.dir,
    // Fewer slots than jobs: the timed-out jobs must give their slots back for the rest to run.
    extra: { WORKER_CONCURRENCY: '4', MAX_BATCH_SIZE: '4' },
  });
  const [api, worker] = await Promise.all([startApiProcess(env), startWorkerProcess({ ...env, workerId: 'timeouts' })]);
  running.push(api.process, worker.process);
  const user = await createTestUser(env.databaseUrl);
  const image = await validJpeg(64, 64);

  const slow: string[] = [];
  const fast: string[] = [];
  for (let i = 0; i < 12; i++) {
    const toSlow = await submitOne(api.baseUrl, user, image, { model: 'nsfw-slow' });
    const toFast = await submitOne(api.baseUrl, user, image, { model: 'nsfw' });
    expect([toSlow.status, toFast.status]).toEqual([202, 202]);
    slow.push(toSlow.id!);
    fast.push(toFast.id!);
  }
  const slowCounts = await waitForFinal(env.databaseUrl, slow, 120_000);
  const fastCounts = await waitForFinal(env.databaseUrl, fast, 120_000);
  await report('job timeouts', slowCounts, {
    timeoutCodes: slowCounts.codes,
    otherModelSucceeded: fastCounts.succeeded,
  });

  expect(slowCounts).toMatchObject({ submitted: 12, failed: 12, lost: 0, codes: { TIMEOUT: 12 } });
  expect(fastCounts).toMatchObject({ submitted: 12, succeeded: 12, lost: 0 });
  expect(worker.process.child.exitCode).toBeNull();
  expect((await fetch(`${worker.healthUrl}/readyz`)).status).toBe(200);
  const metrics = await (await fetch(`${worker.healthUrl}/metrics`)).text();
  expect(metrics).toContain('inferq_jobs_finished_total{model="nsfw-slow",status="failed",code="TIMEOUT"} 12');
  expect(metrics).toContain('inferq_jobs_finished_total{model="nsfw",status="succeeded",code=""} 12');
});
