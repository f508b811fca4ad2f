import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photoLikeImage } from '@inferq/images/testing';
import { createDatabase, JobQueries } from '@inferq/db';
import type { PlatformProcess } from '@inferq/testing';
import {
  createTestUser,
  getJob,
  platformEnv,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  waitForFinal,
  type Caller,
  type JobJson,
} from './platform.ts';

/**
 * Worker pools: two worker processes with different WORKER_MODELS share one API. Every job runs on
 * a worker that serves its model (one queue per model), none fails, and a model that no worker
 * serves waits, visibly, until one starts.
 */
describe('a queue per model: pools of workers with different WORKER_MODELS', () => {
  // Heartbeats every 200 ms, gone 1 s after a worker stops announcing itself.
  const env = platformEnv({
    extra: {
      HEARTBEAT_INTERVAL_MS: '200',
      HEARTBEAT_TTL_MS: '1000',
      TIER_OVERRIDES: JSON.stringify({
        free: { requestsPerWindow: 1_000_000, submitsPerWindow: 1_000_000, maxJobsInFlight: 1000 },
      }),
    },
  });
  const db = createDatabase({ url: env.databaseUrl, poolSize: 2 });
  const jobs = new JobQueries(db);
  const processes: Array<PlatformProcess | undefined> = [];
  let caller: Caller;
  let nsfwImage: Buffer;
  let mnistImage: Buffer;

  beforeAll(async () => {
    const [api, nsfw, mnist] = await Promise.all([
      startApiProcess(env),
      startWorkerProcess({ ...env, workerId: 'pool-nsfw', extra: { ...env.extra, WORKER_MODELS: 'nsfw' } }),
      startWorkerProcess({ ...env, workerId: 'pool-mnist', extra: { ...env.extra, WORKER_MODELS: 'mnist' } }),
    ]);
    processes.push(api.process, nsfw.process, mnist.process);
    caller = { baseUrl: api.baseUrl, user: await createTestUser(env.databaseUrl) };
    nsfwImage = await photoLikeImage(320, 240, 'jpeg');
    mnistImage = await photoLikeImage(48, 48, 'png');
  });
  afterAll(async () => {
    await stopAll(processes);
    await db.$disconnect();
  });

  const submitFor = (model: 'nsfw' | 'mnist') => submit(caller, model === 'nsfw' ? nsfwImage : mnistImage, { model });

  it('runs a mixed stream with zero failures, each job on a worker that serves its model', async () => {
    const models = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? 'nsfw' : 'mnist') as 'nsfw' | 'mnist');
    const submitted = await Promise.all(models.map((model) => submitFor(model)));
    const finished = await Promise.all(submitted.map((job) => waitForFinal(caller, job.id, 120_000)));
    expect(finished.map((job) => job.status)).toEqual(models.map(() => 'succeeded'));
    for (const [i, job] of finished.entries()) {
      expect(job.model.name).toBe(models[i]);
      const row = await jobs.get(job.id);
      expect(row?.workerId).toBe(models[i] === 'nsfw' ? 'pool-nsfw' : 'pool-mnist');
      // The parts of the job's time are disjoint: queue wait, held (preprocessing, waiting for the
      // batch), inference; the rest is the result write (whole milliseconds each, so ± 3).
      const { queueWaitMs, heldMs, inferenceMs, totalMs } = job.timings;
      expect(heldMs).not.toBeNull();
      expect(heldMs!).toBeGreaterThanOrEqual(0);
      expect(queueWaitMs! + heldMs! + inferenceMs!).toBeLessThanOrEqual(totalMs! + 3);
    }
  });

  it('keeps a job for a model no live worker serves queued, says it waits for a worker, and runs it once one starts', async () => {
    const mnistWorker = processes[2]!;
    expect(await mnistWorker.stop()).toBe(0);
    // Its heartbeat is removed on stop; the API reads heartbeats at most a second old.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const waiting = await Promise.all([submitFor('mnist'), submitFor('mnist'), submitFor('mnist')]);
    const nsfw = await submitFor('nsfw');
    expect((await waitForFinal(caller, nsfw.id, 60_000)).status).toBe('succeeded');
    // The nsfw worker took its own job and left the mnist ones alone.
    let views: JobJson[] = [];
    for (let i = 0; i < 10; i++) {
      views = await Promise.all(waiting.map((job) => getJob(caller, job.id)));
      if (views.every((view) => (view as JobJson & { waitingFor?: string }).waitingFor === 'worker')) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    for (const view of views) {
      expect(view.status).toBe('queued');
      expect((view as JobJson & { waitingFor?: string | null }).waitingFor).toBe('worker');
    }

    const replacement = await startWorkerProcess({
      ...env,
      workerId: 'pool-mnist-2',
      extra: { ...env.extra, WORKER_MODELS: 'mnist' },
    });
    processes.push(replacement.process);
    const finished = await Promise.all(waiting.map((job) => waitForFinal(caller, job.id, 60_000)));
    expect(finished.map((job) => job.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    for (const job of finished) {
      expect((job as JobJson & { waitingFor?: string | null }).waitingFor ?? null).toBeNull();
      expect((await jobs.get(job.id))?.workerId).toBe('pool-mnist-2');
    }
  });
});
