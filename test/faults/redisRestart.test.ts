import { afterAll, expect, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { startApiProcess, startWorkerProcess, type PlatformProcess, type TestServices } from '@inferq/testing';
import {
  createTestUser,
  faultEnv,
  PrivateRedis,
  privateDatabase,
  report,
  submitOne,
  waitForFinal,
  type SubmitOutcome,
} from './faultHarness.ts';

let redis: PrivateRedis | undefined;
let database: TestServices | undefined;
const running: PlatformProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((child) => child.stop()));
  await redis?.kill();
  await database?.stop();
});

it('a Redis restart (nothing persisted) in the middle of 300 jobs: 503 while down, every accepted job final afterwards, 0 lost', async () => {
  redis = await PrivateRedis.start();
  // Reconciliation looks at every unfinished row of its database: this test has one of its own.
  database = await privateDatabase();
  const env = faultEnv({
    databaseUrl: database.databaseUrl,
    redisUrl: redis.url,
    queuePrefix: database.queuePrefix,
    extra: {
      LOCK_DURATION_MS: '3000',
      STALLED_INTERVAL_MS: '1000',
      RECONCILE_INTERVAL_MS: '1000',
      RECONCILE_GRACE_MS: '2000',
    },
  });
  const [api, worker] = await Promise.all([
    startApiProcess(env),
    startWorkerProcess({ ...env, workerId: 'redis-restart' }),
  ]);
  running.push(api.process, worker.process);
  const user = await createTestUser(env.databaseUrl);
  const image = await validJpeg(64, 64);

  const accepted: string[] = [];
  const duringOutage: SubmitOutcome[] = [];
  const other: SubmitOutcome[] = [];
  let inFlight = 0;
  const submitUntil = async (target: number) => {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (accepted.length + inFlight < target) {
          inFlight++;
          const outcome = await submitOne(api.baseUrl, user, image);
          inFlight--;
          if (outcome.status === 202) accepted.push(outcome.id!);
          else other.push(outcome);
        }
      }),
    );
  };

  await submitUntil(150);
  await redis.kill();
  // While Redis is down: every submission is refused at once with 503 QUEUE_UNAVAILABLE.
  const downUntil = Date.now() + 3000;
  while (Date.now() < downUntil) duringOutage.push(await submitOne(api.baseUrl, user, image));
  await redis.restart();
  await submitUntil(300);

  const counts = await waitForFinal(env.databaseUrl, accepted, 300_000);
  const slowest = Math.max(...duringOutage.map((outcome) => outcome.ms));
  const requeued = worker.process.messageCounts.get('job re-enqueued by reconciliation') ?? 0;
  await report('Redis restart mid-run', counts, {
    requeuedByReconciler: requeued,
    refusedDuringOutage: duringOutage.length,
    refusedCodes: [...new Set(duringOutage.map((outcome) => `${outcome.status} ${outcome.code}`))],
    slowestRefusalMs: Math.round(slowest),
    otherRefusals: other.length,
  });
  expect(duringOutage.length).toBeGreaterThan(0);
  expect(new Set(duringOutage.map((outcome) => `${outcome.status} ${outcome.code}`))).toEqual(
    new Set(['503 QUEUE_UNAVAILABLE']),
  );
  expect(slowest).toBeLessThan(2000);
  // Around the kill and the restart some submissions may be refused too, never with a 5xx other than 503.
  expect(other.every((outcome) => outcome.status === 503)).toBe(true);
  expect(counts).toMatchObject({ submitted: 300, succeeded: 300, failed: 0, lost: 0, duplicated: 0 });
  // The jobs that were waiting in Redis when it died came back through reconciliation.
  expect(requeued).toBeGreaterThan(0);
  expect(api.process.child.exitCode).toBeNull();
  expect(worker.process.child.exitCode).toBeNull();
});
