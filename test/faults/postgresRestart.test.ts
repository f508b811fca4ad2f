import { afterAll, expect, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { startApiProcess, startWorkerProcess, type PlatformProcess, type TestServices } from '@inferq/testing';
import {
  createTestUser,
  faultEnv,
  PrivatePostgres,
  privateDatabase,
  report,
  submitMany,
  submitOne,
  tally,
  waitForFinal,
  type SubmitOutcome,
} from './faultHarness.ts';

let postgres: PrivatePostgres | undefined;
let database: TestServices | undefined;
const running: PlatformProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((child) => child.stop()));
  await database?.stop().catch(() => {});
  await postgres?.destroy();
});

it('a Postgres restart in the middle of 200 jobs: 503 DATABASE_UNAVAILABLE while down (never 500, no crash), workers retry, 0 lost', async () => {
  // Never the machine's shared Postgres: a cluster of this test only.
  postgres = await PrivatePostgres.start();
  database = await privateDatabase(postgres.url);
  const env = faultEnv({
    databaseUrl: database.databaseUrl,
    queuePrefix: database.queuePrefix,
    extra: {
      LOCK_DURATION_MS: '5000',
      STALLED_INTERVAL_MS: '2000',
      RECONCILE_INTERVAL_MS: '1000',
      RECONCILE_GRACE_MS: '5000',
    },
  });
  const [api, worker] = await Promise.all([
    startApiProcess(env),
    startWorkerProcess({ ...env, workerId: 'pg-restart' }),
  ]);
  running.push(api.process, worker.process);
  const user = await createTestUser(env.databaseUrl);
  const image = await validJpeg(64, 64);

  const outcomes = await submitMany(api.baseUrl, user, image, 200, 8);
  expect(outcomes.every((outcome) => outcome.status === 202)).toBe(true);
  const ids = outcomes.map((outcome) => outcome.id!);
  // Wait until the worker is well into the run, then take Postgres away for a few seconds.
  const busyBy = Date.now() + 120_000;
  while ((await tally(env.databaseUrl, ids)).succeeded < 30 && Date.now() < busyBy)
    await new Promise((resolve) => setTimeout(resolve, 200));

  const unfinishedAtOutage = 200 - (await tally(env.databaseUrl, ids)).succeeded;
  // What the worker did about it: result writes retried in place, attempts retried by BullMQ.
  // Counted over the process's whole life: the recent-lines buffer can drop lines from the outage.
  const writeRetries = () =>
    worker.process.messageCounts.get('result write failed: Postgres unavailable; retrying') ?? 0;
  const attemptRetries = () => worker.process.messageCounts.get('attempt failed') ?? 0;
  await postgres.stopServer('fast');
  const downSince = Date.now();
  const duringOutage: SubmitOutcome[] = [];
  const polls: number[] = [];
  // Down for 4 s at least, and until the worker has run into the outage: on a loaded machine a
  // niced worker can spend 4 s inside one model batch without touching Postgres.
  while (
    Date.now() - downSince < 4000 ||
    (writeRetries() + attemptRetries() === 0 && Date.now() - downSince < 60_000)
  ) {
    duringOutage.push(await submitOne(api.baseUrl, user, image));
    const poll = await fetch(`${api.baseUrl}/v1/jobs/${ids[0]}`, {
      headers: user.headers,
      signal: AbortSignal.timeout(15_000),
    });
    polls.push(poll.status);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const downForMs = Date.now() - downSince;
  const ready = await fetch(`${api.baseUrl}/readyz`);
  const readyBody = (await ready.json()) as { checks: Record<string, boolean> };
  await postgres.startServer();

  const counts = await waitForFinal(env.databaseUrl, ids, 300_000);
  await report('Postgres restart mid-run', counts, {
    unfinishedAtOutage,
    downForMs,
    writeRetries: writeRetries(),
    attemptRetries: attemptRetries(),
    refusedDuringOutage: duringOutage.length,
    refusedCodes: [...new Set(duringOutage.map((outcome) => `${outcome.status} ${outcome.code}`))],
    pollStatusesDuringOutage: [...new Set(polls)],
    slowestRefusalMs: Math.round(Math.max(...duringOutage.map((outcome) => outcome.ms))),
  });
  expect(new Set(duringOutage.map((outcome) => `${outcome.status} ${outcome.code}`))).toEqual(
    new Set(['503 DATABASE_UNAVAILABLE']),
  );
  expect(new Set(polls)).toEqual(new Set([503]));
  expect(ready.status).toBe(503);
  expect(readyBody.checks.postgres).toBe(false);
  expect(counts).toMatchObject({ submitted: 200, succeeded: 200, failed: 0, lost: 0, duplicated: 0 });
  expect(unfinishedAtOutage).toBeGreaterThan(0);
  expect(writeRetries() + attemptRetries()).toBeGreaterThan(0);
  expect(api.process.child.exitCode).toBeNull();
  expect(worker.process.child.exitCode).toBeNull();
  // The API takes work again once Postgres is back.
  expect((await submitOne(api.baseUrl, user, image)).status).toBe(202);
});
