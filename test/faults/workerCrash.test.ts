import { afterAll, expect, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { startApiProcess, startWorkerProcess, type PlatformProcess } from '@inferq/testing';
import { createTestUser, faultEnv, report, submitMany, tally, waitForFinal } from './faultHarness.ts';

const running: PlatformProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((child) => child.stop()));
});

it('SIGKILL of a worker during 500 jobs, then a new worker: 500 final, 500 results, 0 duplicates', async () => {
  const env = faultEnv({
    // A dead worker's jobs come back after about lock + stall interval.
    extra: { LOCK_DURATION_MS: '3000', STALLED_INTERVAL_MS: '1000' },
  });
  const [api, first] = await Promise.all([startApiProcess(env), startWorkerProcess({ ...env, workerId: 'crash-1' })]);
  running.push(api.process, first.process);
  const user = await createTestUser(env.databaseUrl);

  const outcomes = await submitMany(api.baseUrl, user, await validJpeg(64, 64), 500, 8);
  expect(outcomes.map((outcome) => outcome.status)).toEqual(outcomes.map(() => 202));
  const ids = outcomes.map((outcome) => outcome.id!);

  // Kill it once it is well into the run, holding a full set of jobs, with no chance to clean up.
  const deadline = Date.now() + 120_000;
  let before = await tally(env.databaseUrl, ids);
  while (before.succeeded < 100 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    before = await tally(env.databaseUrl, ids);
  }
  first.process.kill('SIGKILL');
  await first.process.exited;
  const second = await startWorkerProcess({ ...env, workerId: 'crash-2' });
  running.push(second.process);

  const counts = await waitForFinal(env.databaseUrl, ids, 240_000);
  await report('worker SIGKILL mid-run', counts, { succeededBeforeKill: before.succeeded });
  expect(counts).toMatchObject({ submitted: 500, succeeded: 500, failed: 0, lost: 0, duplicated: 0, results: 500 });
  expect(second.process.child.exitCode).toBeNull();
});
