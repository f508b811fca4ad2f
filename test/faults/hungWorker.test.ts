import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { startApiProcess, startWorkerProcess, type PlatformProcess } from '@inferq/testing';
import { createTestUser, faultEnv, report, submitMany, waitForFinal } from './faultHarness.ts';

const running: PlatformProcess[] = [];
afterAll(async () => {
  for (const child of running) child.kill('SIGCONT');
  await Promise.all(running.map((child) => child.stop()));
});

/** The user's jobs that the worker is running now. */
async function heldBy(databaseUrl: string, userId: string, workerId: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      "SELECT id FROM jobs WHERE user_id = $1 AND status = 'running' AND worker_id = $2",
      [userId, workerId],
    );
    return rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}

it('two workers, one hangs (SIGSTOP: no more lock renewals): the other runs its jobs after the stall interval (the default lock and stall check)', async () => {
  // The worker's defaults (LOCK_DURATION_MS 15 s, STALLED_INTERVAL_MS 5 s): the report says how
  // long the frozen worker's jobs took to finish elsewhere, against the 20 s bound.
  const lockMs = 15_000;
  const env = faultEnv({});
  const [api, hanging, healthy] = await Promise.all([
    startApiProcess(env),
    startWorkerProcess({ ...env, workerId: 'hangs' }),
    startWorkerProcess({ ...env, workerId: 'healthy' }),
  ]);
  running.push(api.process, hanging.process, healthy.process);
  const user = await createTestUser(env.databaseUrl);

  // Watched while the jobs are still being submitted: a trivial model runs them faster than they
  // are sent, so once every submit is answered few may be left for the worker to hold.
  const submitting = submitMany(api.baseUrl, user, await validJpeg(64, 64), 120, 8);
  let submitted = false;
  const done = () => (submitted = true);
  void submitting.then(done, done); // a failure is seen where it is awaited below

  // Freeze the worker while it holds jobs: it stays connected but renews no lock. Its jobs can
  // finish between the read and the signal; then it is let go and frozen again at the next chance.
  let held: string[] = [];
  let stoppedAt = 0;
  const deadline = Date.now() + 120_000;
  while (held.length === 0 && Date.now() < deadline) {
    if ((await heldBy(env.databaseUrl, user.userId, 'hangs')).length === 0) {
      await new Promise((resolve) => setTimeout(resolve, submitted ? 25 : 5));
      continue;
    }
    hanging.process.kill('SIGSTOP');
    stoppedAt = Date.now();
    held = await heldBy(env.databaseUrl, user.userId, 'hangs');
    if (held.length === 0) hanging.process.kill('SIGCONT');
  }
  const outcomes = await submitting;
  expect(outcomes.every((outcome) => outcome.status === 202)).toBe(true);
  const ids = outcomes.map((outcome) => outcome.id!);

  const heldCounts = await waitForFinal(env.databaseUrl, held, 120_000);
  const pickedUpAfterMs = Date.now() - stoppedAt;
  const counts = await waitForFinal(env.databaseUrl, ids, 240_000);
  const finishers = await new pg.Client({ connectionString: env.databaseUrl });
  await finishers.connect();
  const { rows } = await finishers.query<{ worker_id: string; n: string }>(
    'SELECT worker_id, count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) GROUP BY worker_id',
    [held],
  );
  await finishers.end();
  await report('hung worker (SIGSTOP)', counts, {
    heldByHungWorker: held.length,
    heldJobsFinishedBy: Object.fromEntries(rows.map((row) => [row.worker_id, Number(row.n)])),
    heldJobsFinalAfterMs: pickedUpAfterMs,
    lockDurationMs: lockMs,
  });

  expect(held.length).toBeGreaterThan(0);
  expect(heldCounts).toMatchObject({ succeeded: held.length, lost: 0 });
  expect(rows).toEqual([{ worker_id: 'healthy', n: String(held.length) }]);
  expect(counts).toMatchObject({ submitted: 120, succeeded: 120, failed: 0, lost: 0, duplicated: 0 });

  // Woken up, the hung worker finds its jobs done elsewhere: nothing is written twice.
  hanging.process.kill('SIGCONT');
  await new Promise((resolve) => setTimeout(resolve, 2000));
  expect(await waitForFinal(env.databaseUrl, ids, 10_000)).toMatchObject({
    succeeded: 120,
    duplicated: 0,
    results: 120,
  });
});
