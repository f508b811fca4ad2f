import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ModelView } from '@inferq/core';
import { ModelRegistry, readModelFiles, readModelManifest } from '@inferq/models';
import type { PlatformProcess, TestUser } from '@inferq/testing';
import { loadMnist, mnistFixtureFolder } from '@inferq/training';
import {
  createTestUser,
  platformEnv,
  type Caller,
  type JobJson,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  waitForFinal,
} from './platform.ts';

/**
 * Hot swap under traffic, with the API and a worker supervisor running two worker processes:
 * jobs stream in while an operator publishes mnist 1.1.0 and makes it live. No job fails or is
 * lost; each worker's results switch from 1.0.0 to 1.1.0 exactly once; jobs pinned to 1.0.0
 * still run; a broken version made live is refused by the workers, which keep serving.
 */
describe('model hot swap under a steady stream of jobs', () => {
  let root: string;
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let caller: Caller;
  let admin: TestUser;
  const digits: Array<{ png: Buffer; label: number }> = [];

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'inferq-swap-'));
    const { name: _n, version: _v, sha256: _s, ...manifest } = await readModelManifest(mnistFixtureFolder);
    await new ModelRegistry({ root }).publish({
      name: 'mnist',
      version: '1.0.0',
      files: await readModelFiles(mnistFixtureFolder),
      manifest,
      setLive: true,
    });
    // Real MNIST test digits, upscaled past the API's 32-pixel minimum side.
    const test = await loadMnist({ split: 'test', count: 8 });
    for (let i = 0; i < test.count; i++) {
      const png = await sharp(Buffer.from(test.images.subarray(i * 784, (i + 1) * 784)), {
        raw: { width: 28, height: 28, channels: 1 },
      })
        .resize(56, 56)
        .png()
        .toBuffer();
      digits.push({ png, label: test.labels[i]! });
    }
    const env = platformEnv({
      modelsDir: root,
      extra: {
        DEFAULT_MODEL: 'mnist',
        WORKER_MODELS: 'mnist',
        WORKER_PROCESSES: '2',
        MODEL_WATCH_INTERVAL_MS: '200',
        HEARTBEAT_INTERVAL_MS: '200',
        PINNED_VERSION_IDLE_MS: '500',
        RECONCILE_INTERVAL_MS: '0',
        // The API itself stands in for an internal model store: 1.1.0 is registered from its own files.
        MODEL_FETCH_ALLOW_HOSTS: '127.0.0.1',
        TIER_OVERRIDES: JSON.stringify({
          pro: { submitsPerWindow: 1_000_000, submitBurst: 0, requestsPerWindow: 1_000_000, maxJobsInFlight: 100_000 },
        }),
      },
    });
    const started = await Promise.all([startApiProcess(env), startWorkerProcess({ ...env, workerId: 'swap' })]);
    api = started[0].process;
    worker = started[1].process;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl, { tier: 'pro' }) };
    admin = await createTestUser(env.databaseUrl, { role: 'admin', tier: 'pro' });
    // Both worker processes up and announcing themselves.
    await until(async () => (await model()).workers === 2, 60_000);
  }, 180_000);

  afterAll(async () => {
    await stopAll([api, worker]);
    await rm(root, { recursive: true, force: true });
  });

  async function model(): Promise<ModelView> {
    const response = await fetch(`${caller.baseUrl}/v1/models/mnist`, { headers: caller.user.headers });
    return (await response.json()) as ModelView;
  }

  async function adminPost(url: string, body: unknown): Promise<Response> {
    return fetch(`${caller.baseUrl}${url}`, {
      method: 'POST',
      headers: { ...admin.headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  async function tensorsPerWorker(): Promise<number[]> {
    const ports = [
      ...new Set(
        worker!.lines
          .filter((line) => line.msg === 'worker health endpoint listening')
          .map((line) => line.port as number),
      ),
    ];
    return Promise.all(
      ports.map(
        async (port) =>
          ((await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { tensors: number }).tensors,
      ),
    );
  }

  it('switches versions with zero failed and zero lost jobs; results before carry 1.0.0, after 1.1.0', async () => {
    const tensorsBefore = await tensorsPerWorker();
    const submitted: Array<{ job: JobJson; digit: number; at: number }> = [];
    let streaming = true;
    const stream = (async () => {
      for (let i = 0; streaming; i++) {
        const digit = i % digits.length;
        submitted.push({ job: await submit(caller, digits[digit]!.png), digit, at: Date.now() });
        await sleep(30);
      }
    })();

    await sleep(1500);
    const publish = await adminPost('/v1/admin/models/mnist/versions', {
      version: '1.1.0',
      url: `${caller.baseUrl}/v1/models/mnist/1.0.0/model.json`,
      format: 'layers',
      input: (await readModelManifest(mnistFixtureFolder)).input,
      output: (await readModelManifest(mnistFixtureFolder)).output,
    });
    expect(publish.status).toBe(201);
    const switchRequestedAt = Date.now();
    expect((await adminPost('/v1/admin/models/mnist/live', { version: '1.1.0' })).status).toBe(200);
    // Every worker serving 1.1.0 and no swap left in progress.
    await until(async () => {
      const view = await model();
      return view.swap === null && view.versions.find((v) => v.version === '1.1.0')?.workersReady === 2;
    }, 30_000);
    const switchDoneAt = Date.now();
    await sleep(1500);
    streaming = false;
    await stream;

    const finals = await Promise.all(submitted.map(({ job }) => waitForFinal(caller, job.id, 60_000)));
    // Zero failed, zero lost: every accepted job succeeded, with exactly one result row.
    expect(finals.map((job) => job.status)).toEqual(submitted.map(() => 'succeeded'));
    const rows = await resultRows(submitted.map(({ job }) => job.id));
    expect(rows).toHaveLength(submitted.length);

    const versionOf = new Map(rows.map((row) => [row.id, row.model_version]));
    const finishedBeforeSwitch = rows.filter((row) => row.finished_at.getTime() < switchRequestedAt);
    const submittedAfterSwitch = submitted.filter(({ at }) => at > switchDoneAt).map(({ job }) => job.id);
    expect(finishedBeforeSwitch.length).toBeGreaterThan(0);
    expect(submittedAfterSwitch.length).toBeGreaterThan(0);
    expect(new Set(finishedBeforeSwitch.map((row) => row.model_version))).toEqual(new Set(['1.0.0']));
    expect(new Set(submittedAfterSwitch.map((id) => versionOf.get(id)))).toEqual(new Set(['1.1.0']));
    // Each worker process switched once: ordered by start, its results read 1.0.0 … then 1.1.0 … .
    const byWorker = groupBy(rows, (row) => row.worker_id);
    expect(byWorker.size).toBe(2);
    for (const jobs of byWorker.values()) {
      const sequence = jobs
        .sort((a, b) => a.started_at.getTime() - b.started_at.getTime())
        .map((row) => row.model_version);
      expect(sequence).toEqual([...sequence].sort()); // never back to 1.0.0 after a 1.1.0
    }
    // The job view reports the version too, and the same weights give the same scores under both.
    const byDigit = groupBy(
      finals,
      (job) => `${submitted.find((s) => s.job.id === job.id)!.digit}/${job.model.version}`,
    );
    for (let digit = 0; digit < digits.length; digit++) {
      const [oldJob, newJob] = [byDigit.get(`${digit}/1.0.0`)?.[0], byDigit.get(`${digit}/1.1.0`)?.[0]];
      if (oldJob && newJob) expect(newJob.result!.output).toEqual(oldJob.result!.output);
    }
    const correct = finals.filter(
      (job) => job.result!.top![0]!.label === String(digits[submitted.find((s) => s.job.id === job.id)!.digit]!.label),
    ).length;
    expect(correct / finals.length).toBeGreaterThan(0.7);

    // The old version's tensors were released: each worker is back at its level before the swap.
    await until(async () => JSON.stringify(await tensorsPerWorker()) === JSON.stringify(tensorsBefore), 10_000);
  });

  it('runs a job pinned to the old version while 1.1.0 is live', async () => {
    const job = await submit(caller, digits[0]!.png, { version: '1.0.0' });
    const final = await waitForFinal(caller, job.id, 30_000);
    expect(final).toMatchObject({ status: 'succeeded', model: { name: 'mnist', version: '1.0.0' } });
    const unknown = await fetch(`${caller.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: caller.user.headers,
      body: form(digits[0]!.png, { version: '9.9.9' }),
    });
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('UNKNOWN_MODEL');
  });

  it("keeps serving 1.1.0 when a broken version is made live, and reports each worker's failure", async () => {
    const location = path.join(root, 'mnist', '1.2.0');
    const { name: _n, version: _v, sha256: _s, ...manifest } = await readModelManifest(mnistFixtureFolder);
    await new ModelRegistry({ root }).publish({
      name: 'mnist',
      version: '1.2.0',
      files: await readModelFiles(mnistFixtureFolder),
      manifest,
    });
    await writeFile(path.join(location, 'group1-shard1of1.bin'), Buffer.alloc(64)); // damaged after publishing
    expect((await adminPost('/v1/admin/models/mnist/live', { version: '1.2.0' })).status).toBe(200);

    await until(async () => (await model()).swap?.failures.length === 2, 30_000);
    const view = await model();
    expect(view.liveVersion).toBe('1.2.0');
    expect(view.swap).toMatchObject({ to: '1.2.0', switched: 0 });
    expect(view.swap!.failures.map((failure) => [failure.code, failure.reason])).toEqual([
      ['MODEL_NOT_READY', 'hash-mismatch'],
      ['MODEL_NOT_READY', 'hash-mismatch'],
    ]);
    expect(view.versions.find((v) => v.version === '1.1.0')?.workersReady).toBe(2);

    const jobs = await Promise.all(digits.map((digit) => submit(caller, digit.png)));
    const finals = await Promise.all(jobs.map((job) => waitForFinal(caller, job.id, 30_000)));
    expect(finals.map((job) => [job.status, job.model.version])).toEqual(jobs.map(() => ['succeeded', '1.1.0']));
  });
});

function form(image: Buffer, fields: Record<string, string>): FormData {
  const body = new FormData();
  for (const [key, value] of Object.entries(fields)) body.set(key, value);
  body.set('image', new Blob([new Uint8Array(image)]), 'digit.png');
  return body;
}

async function resultRows(
  ids: string[],
): Promise<Array<{ id: string; worker_id: string; started_at: Date; finished_at: Date; model_version: string }>> {
  const client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT j.id, j.worker_id, j.started_at, j.finished_at, r.model_version
         FROM jobs j JOIN job_results r ON r.job_id = j.id WHERE j.id = ANY($1::uuid[])`,
      [ids],
    );
    return rows;
  } finally {
    await client.end();
  }
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}
