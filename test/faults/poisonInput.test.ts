import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { pixelBomb, textFile, truncatedJpeg, validJpeg } from '@inferq/images/testing';
import { createDatabase } from '@inferq/db';
import { createRedisConnection, InferenceQueue } from '@inferq/queue';
import { startApiProcess, startWorkerProcess, TestJobs, type PlatformProcess } from '@inferq/testing';
import { createTestUser, faultEnv, report, submitMany, tally, waitForFinal } from './faultHarness.ts';

const running: PlatformProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await Promise.all(running.map((child) => child.stop()));
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

it('poison inputs fail alone with a clear code and no retries; the jobs around them succeed; the worker keeps running', async () => {
  const env = faultEnv({
    // Batches wait a little to fill, so the good jobs run in batches next to the poison.
    extra: { MAX_BATCH_DELAY_MS: '30' },
  });
  const [api, worker] = await Promise.all([startApiProcess(env), startWorkerProcess({ ...env, workerId: 'poison' })]);
  running.push(api.process, worker.process);
  const user = await createTestUser(env.databaseUrl);

  // Poison goes in behind the API's validation, as bytes damaged in storage would: straight into
  // the job table and the queue.
  const db = createDatabase({ url: env.databaseUrl, poolSize: 2 });
  const redis = createRedisConnection({ url: env.redisUrl, role: 'producer' });
  redis.on('error', () => {});
  const queue = new InferenceQueue({ connection: redis, name: env.queueName, prefix: env.queuePrefix });
  cleanups.push(
    () => db.$disconnect(),
    async () => redis.disconnect(),
    () => queue.close(),
  );
  const jobs = new TestJobs(db);
  const poisonBytes: Array<[string, Buffer]> = [
    ['PREPROCESSING_FAILED', textFile()],
    ['PREPROCESSING_FAILED', pixelBomb()],
    ['PREPROCESSING_FAILED', await truncatedJpeg(256, 192, 0.3)],
    ['INPUT_MISSING', await validJpeg(64, 64)],
  ];
  const poison = await Promise.all(
    poisonBytes.map(async ([expected, data]) => {
      const id = randomUUID();
      await jobs.create({
        id,
        userId: user.userId,
        modelName: 'nsfw',
        input: { data, format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
      });
      if (expected === 'INPUT_MISSING') await db.jobInput.delete({ where: { jobId: id } });
      return { id, expected };
    }),
  );

  const image = await validJpeg(64, 64);
  const [good] = await Promise.all([
    submitMany(api.baseUrl, user, image, 40, 8),
    (async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const { id } of poison) await queue.enqueue({ jobId: id, model: 'nsfw' });
    })(),
  ]);
  expect(good.every((outcome) => outcome.status === 202)).toBe(true);
  const goodIds = good.map((outcome) => outcome.id!);
  const poisonIds = poison.map((entry) => entry.id);

  const goodCounts = await waitForFinal(env.databaseUrl, goodIds, 180_000);
  const poisonCounts = await waitForFinal(env.databaseUrl, poisonIds, 60_000);
  const rows = await db.job.findMany({
    where: { id: { in: poisonIds } },
    select: { id: true, status: true, errorCode: true, attempts: true },
  });
  const queued = await Promise.all(poisonIds.map((id) => queue.queueFor('nsfw').getJob(id)));
  await report('poison inputs', await tally(env.databaseUrl, [...goodIds, ...poisonIds]), {
    goodSucceeded: goodCounts.succeeded,
    poisonCodes: poisonCounts.codes,
    poisonAttempts: Math.max(...queued.map((job) => job?.attemptsMade ?? 0)),
  });

  if (poisonCounts.lost > 0) {
    // Evidence for a failure that only shows on a loaded machine: what the queue and the worker said of each poison job.
    const states = await Promise.all(
      queued.map(async (job) => ({
        id: job?.id,
        state: await job?.getState(),
        attemptsMade: job?.attemptsMade,
        failedReason: job?.failedReason,
      })),
    );
    const said = worker.process.lines.filter((line) => poisonIds.some((id) => id === line.jobId));
    console.log(`poison jobs not final: ${JSON.stringify(rows)}\nqueue: ${JSON.stringify(states)}`);
    console.log(
      `worker on them:\n${said.map((line) => JSON.stringify(line)).join('\n')}\nworker's last lines:\n${worker.process.tail(30)}`,
    );
  }
  expect(goodCounts).toMatchObject({ submitted: 40, succeeded: 40, failed: 0, lost: 0 });
  for (const { id, expected } of poison) {
    const row = rows.find((entry) => entry.id === id);
    expect(row).toMatchObject({ status: 'failed', errorCode: expected });
    expect(row!.attempts).toBeLessThanOrEqual(1);
  }
  // No retry loop on poison: each ran once and failed for good.
  for (const job of queued) {
    expect(await job!.getState()).toBe('failed');
    expect(job!.attemptsMade).toBe(1);
  }
  // The worker is alive, ready, and still takes work.
  expect(worker.process.child.exitCode).toBeNull();
  expect((await fetch(`${worker.healthUrl}/readyz`)).status).toBe(200);
  const after = await submitMany(api.baseUrl, user, image, 3, 3);
  expect(
    await waitForFinal(
      env.databaseUrl,
      after.map((outcome) => outcome.id!),
      60_000,
    ),
  ).toMatchObject({ succeeded: 3 });
});
