import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelView, QueueSnapshot } from '@inferq/core';
import { ModelRegistry, readModelFiles, readModelManifest } from '@inferq/models';
import { repoRoot, type PlatformProcess, type TestUser } from '@inferq/testing';
import { mnistFixtureFolder } from '@inferq/training';
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

type JobView = JobJson & { waitingFor: 'worker' | null };

/** Publishes the committed MNIST model as `name`@`version`, live; `broken`: its weights corrupted after publishing, so no worker can load it. */
async function publish(root: string, name: string, version: string, options: { broken?: boolean } = {}): Promise<void> {
  const registry = new ModelRegistry({ root });
  const { name: _n, version: _v, sha256: _s, ...manifest } = await readModelManifest(mnistFixtureFolder);
  const published = await registry.publish({
    name,
    version,
    files: await readModelFiles(mnistFixtureFolder),
    manifest,
  });
  if (options.broken) await writeFile(path.join(published.model.location, 'group1-shard1of1.bin'), Buffer.alloc(16));
  await registry.setLive(name, version);
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met after ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * A worker's queues follow the models it has loaded, without a restart: a model whose live
 * version fails to load at start is not announced as served (its jobs wait for a worker, visibly)
 * until a fixed version is made live; then the worker takes its queue and the waiting jobs run.
 * Under `*`, a model published under a new name is picked up the same way.
 */
describe("a worker's queues follow what it has loaded", () => {
  let root: string;
  let api: PlatformProcess | undefined;
  let named: PlatformProcess | undefined;
  let all: PlatformProcess | undefined;
  let caller: Caller;
  let admin: TestUser;
  let digit: Buffer;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'inferq-queues-'));
    await publish(root, 'mnist', '1.0.0');
    await publish(root, 'digits', '1.0.0', { broken: true });
    digit = await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png()
      .toBuffer();
    const env = platformEnv({
      modelsDir: root,
      extra: {
        DEFAULT_MODEL: 'mnist',
        MODEL_WATCH_INTERVAL_MS: '200',
        HEARTBEAT_INTERVAL_MS: '200',
        HEARTBEAT_TTL_MS: '1000',
      },
    });
    const started = await Promise.all([
      startApiProcess(env),
      startWorkerProcess({ ...env, workerId: 'queues-named', extra: { ...env.extra, WORKER_MODELS: 'digits' } }),
      startWorkerProcess({ ...env, workerId: 'queues-all', extra: { ...env.extra, WORKER_MODELS: '*' } }),
    ]);
    api = started[0].process;
    named = started[1].process;
    all = started[2].process;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl) };
    admin = await createTestUser(env.databaseUrl, { role: 'admin' });
  }, 180_000);

  afterAll(async () => {
    await stopAll([api, named, all]);
    await rm(root, { recursive: true, force: true });
  });

  const modelView = async (name: string) =>
    (await (await fetch(`${caller.baseUrl}/v1/models/${name}`, { headers: caller.user.headers })).json()) as ModelView;
  const overview = async () =>
    (await (await fetch(`${caller.baseUrl}/v1/admin/overview`, { headers: admin.headers })).json()) as QueueSnapshot;

  it('runs the jobs of a model that failed to load at start once a fixed version is live, with no restart', async () => {
    // Both workers failed to load digits@1.0.0: neither announces it, each reports the failure.
    const before = await until(
      () => modelView('digits'),
      (view) => view.loadFailures.length === 2,
      30_000,
    );
    expect(before.workers).toBe(0);
    expect(before.versions.find((v) => v.version === '1.0.0')?.workersReady).toBe(0);
    expect(before.loadFailures.map((failure) => failure.workerId).sort()).toEqual(['queues-all', 'queues-named']);
    // The CLI's table says it too, in its problem column.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(repoRoot, 'packages/cli/src/main.ts'), 'models'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: root,
          INFERQ_BASE_URL: caller.baseUrl,
          INFERQ_API_KEY: caller.user.key,
        },
      },
    );
    expect(
      stdout
        .split('\n')
        .filter((line) => /│ digits +│ 1\.0\.0 .*load failed on queues-(named|all): hash-mismatch/.test(line)),
    ).toHaveLength(2);

    const queued = await Promise.all([
      submit(caller, digit, { model: 'digits' }),
      submit(caller, digit, { model: 'digits' }),
    ]);
    const waiting = await Promise.all(queued.map((job) => getJob(caller, job.id) as Promise<JobView>));
    expect(waiting.map((job) => [job.status, job.waitingFor])).toEqual([
      ['queued', 'worker'],
      ['queued', 'worker'],
    ]);
    const snapshot = await overview();
    expect(snapshot.models?.find((entry) => entry.model === 'digits')).toMatchObject({
      workers: 0,
      waitingFor: 'worker',
    });
    // No worker took them: still queued after a few watch passes.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await Promise.all(queued.map((job) => getJob(caller, job.id)))).map((job) => job.status)).toEqual([
      'queued',
      'queued',
    ]);

    await publish(root, 'digits', '1.0.1');
    const finished = await Promise.all(queued.map((job) => waitForFinal(caller, job.id, 60_000)));
    expect(finished.map((job) => [job.status, job.model.version])).toEqual([
      ['succeeded', '1.0.1'],
      ['succeeded', '1.0.1'],
    ]);
    const after = await until(
      () => modelView('digits'),
      (view) => view.workers === 2,
      10_000,
    );
    expect(after.loadFailures).toEqual([]);
    expect(after.versions.find((v) => v.version === '1.0.1')?.workersReady).toBe(2);
    // The same processes all along.
    expect(named!.child.exitCode).toBeNull();
    expect(all!.child.exitCode).toBeNull();
    expect(named!.lines.filter((line) => line.msg === 'worker taking jobs')).toHaveLength(1);
  });

  it('serves a model published under a new name on the `*` worker only', async () => {
    const unknown = await fetch(`${caller.baseUrl}/v1/models/fresh`, { headers: caller.user.headers });
    expect(unknown.status).toBe(404);
    await publish(root, 'fresh', '1.0.0');
    const job = await submit(caller, digit, { model: 'fresh' });
    const final = await waitForFinal(caller, job.id, 60_000);
    expect(final).toMatchObject({ status: 'succeeded', model: { name: 'fresh', version: '1.0.0' } });
    const view = await until(
      () => modelView('fresh'),
      (value) => value.workers === 1,
      10_000,
    );
    expect(view.loadFailures).toEqual([]);
    const workers = (await overview()).workers.filter((worker) =>
      worker.models.some((model) => model.name === 'fresh'),
    );
    expect(workers.map((worker) => worker.workerId)).toEqual(['queues-all']);
  });

  it('lets go of the queue of a model removed from the registry, and takes it again when it comes back', async () => {
    await rm(path.join(root, 'fresh'), { recursive: true });
    await until(
      async () => (await overview()).workers.find((worker) => worker.workerId === 'queues-all'),
      (worker) => worker !== undefined && !worker.models.some((model) => model.name === 'fresh'),
      10_000,
    );
    expect(all!.lines.some((line) => line.msg === 'no longer taking jobs of model' && line.model === 'fresh')).toBe(
      true,
    );
    // Brought back: taken again, and a job runs.
    await publish(root, 'fresh', '1.0.1');
    const job = await submit(caller, digit, { model: 'fresh' });
    expect(await waitForFinal(caller, job.id, 60_000)).toMatchObject({
      status: 'succeeded',
      model: { version: '1.0.1' },
    });
  });
});
