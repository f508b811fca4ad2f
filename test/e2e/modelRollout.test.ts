import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelComparison, TrafficView } from '@inferq/core';
import { ModelRegistry, readModelFiles, readModelManifest } from '@inferq/models';
import type { PlatformProcess, TestUser } from '@inferq/testing';
import { loadMnist, mnistFixtureFolder } from '@inferq/training';
import { verifyWebhookSignature } from '@inferq/client';
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

const webhookSecret = `whsec_${Buffer.from('rollout-test-secret-0123456789').toString('base64')}`;

/**
 * A model rollout with a real API, a worker and its reconciler, over versions published from
 * the shipped mnist files: 1.0.0 (live), 1.1.0 (the same files again: byte-identical) and 1.2.0
 * (the same weights with its labels reversed, so it disagrees with 1.0.0 on every input).
 */
describe('model rollout: traffic splits, shadow runs, comparison, automatic rollback', () => {
  let root: string;
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let caller: Caller;
  let admin: TestUser;
  let databaseUrl: string;
  let receiver: Server;
  const received: Array<{ headers: Record<string, string>; body: string }> = [];
  const digits: Buffer[] = [];

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'inferq-rollout-'));
    const registry = new ModelRegistry({ root });
    const {
      name: _n,
      version: _v,
      sha256: _s,
      createdAt: _c,
      ...manifest
    } = await readModelManifest(mnistFixtureFolder);
    const files = await readModelFiles(mnistFixtureFolder);
    await registry.publish({ name: 'mnist', version: '1.0.0', files, manifest, setLive: true });
    await registry.publish({ name: 'mnist', version: '1.1.0', files, manifest });
    const output = manifest.output;
    if (output?.kind !== 'classification') throw new Error('mnist is a classifier');
    await registry.publish({
      name: 'mnist',
      version: '1.2.0',
      files,
      manifest: { ...manifest, output: { ...output, labels: [...output.labels].reverse() } },
    });
    const test = await loadMnist({ split: 'test', count: 10 });
    for (let i = 0; i < test.count; i++) {
      digits.push(
        await sharp(Buffer.from(test.images.subarray(i * 784, (i + 1) * 784)), {
          raw: { width: 28, height: 28, channels: 1 },
        })
          .resize(56, 56)
          .png()
          .toBuffer(),
      );
    }
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    const env = platformEnv({
      modelsDir: root,
      extra: {
        DEFAULT_MODEL: 'mnist',
        WORKER_MODELS: 'mnist',
        MODEL_WATCH_INTERVAL_MS: '200',
        HEARTBEAT_INTERVAL_MS: '200',
        RECONCILE_INTERVAL_MS: '300',
        ROLLOUT_WEBHOOK_URL: `http://127.0.0.1:${port}/rollbacks`,
        ROLLOUT_WEBHOOK_SECRET: webhookSecret,
        ROLLOUT_WEBHOOK_ALLOW_LOOPBACK: 'true',
        ROLLOUT_WEBHOOK_ALLOW_PORTS: String(port),
        TIER_OVERRIDES: JSON.stringify({
          pro: { submitsPerWindow: 1_000_000, submitBurst: 0, requestsPerWindow: 1_000_000, maxJobsInFlight: 100_000 },
        }),
      },
    });
    databaseUrl = env.databaseUrl;
    const started = await Promise.all([startApiProcess(env), startWorkerProcess({ ...env, workerId: 'rollout' })]);
    api = started[0].process;
    worker = started[1].process;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl, { tier: 'pro' }) };
    admin = await createTestUser(env.databaseUrl, { role: 'admin', tier: 'pro' });
  }, 180_000);

  afterAll(async () => {
    await stopAll([api, worker]);
    await new Promise((resolve) => receiver?.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  async function adminCall<T>(method: string, url: string, body?: unknown): Promise<{ status: number; json: T }> {
    const response = await fetch(`${caller.baseUrl}${url}`, {
      method,
      headers: { ...admin.headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, json: (await response.json()) as T };
  }

  const traffic = () => adminCall<TrafficView>('GET', '/v1/admin/models/mnist/traffic');

  /** Waits until every version of the split (and the shadow) is loaded on the worker. */
  async function untilWarm(): Promise<TrafficView> {
    let view: TrafficView | undefined;
    await until(async () => {
      view = (await traffic()).json;
      return (
        view.traffic !== null &&
        view.traffic.split.every((entry) => entry.workersReady > 0) &&
        (view.traffic.shadow?.workersReady ?? 1) > 0
      );
    }, 30_000);
    // The API's view of the split and of the warm versions is renewed within two seconds (routing cache).
    await new Promise((resolve) => setTimeout(resolve, 2100));
    return view as TrafficView;
  }

  async function submitMany(count: number, by: Caller = caller): Promise<JobJson[]> {
    const jobs: JobJson[] = [];
    // A few at a time, as clients would.
    for (let start = 0; start < count; start += 10) {
      jobs.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(10, count - start) }, (_, i) =>
            submit(by, digits[(start + i) % digits.length]!),
          ),
        )),
      );
    }
    return Promise.all(jobs.map((job) => waitForFinal(by, job.id, 60_000)));
  }

  async function rowsOf(
    ids: string[],
  ): Promise<Array<{ id: string; routed_version: string | null; model_version: string | null }>> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (
        await client.query('SELECT id, routed_version, model_version FROM jobs WHERE id = ANY($1::uuid[])', [ids])
      ).rows;
    } finally {
      await client.end();
    }
  }

  async function shadowRowsOf(
    ids: string[],
  ): Promise<Array<{ job_id: string; model_version: string; error_code: string | null }>> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (
        await client.query(
          'SELECT job_id, model_version, error_code FROM job_shadow_results WHERE job_id = ANY($1::uuid[])',
          [ids],
        )
      ).rows;
    } finally {
      await client.end();
    }
  }

  it.each([
    ['weights all zero', { split: [{ version: '1.0.0', weight: 0 }] }, 400, 'VALIDATION_FAILED'],
    [
      'a version twice',
      {
        split: [
          { version: '1.0.0', weight: 1 },
          { version: '1.0.0', weight: 2 },
        ],
      },
      400,
      'VALIDATION_FAILED',
    ],
    ['an unknown field', { split: [{ version: '1.0.0', weight: 1 }], canary: 5 }, 400, 'VALIDATION_FAILED'],
    ['a negative weight', { split: [{ version: '1.0.0', weight: -1 }] }, 400, 'VALIDATION_FAILED'],
    [
      'an agreement above 1',
      { split: [{ version: '1.0.0', weight: 1 }], rules: { minAgreement: 2 } },
      400,
      'VALIDATION_FAILED',
    ],
    ['a version that does not exist', { split: [{ version: '9.9.9', weight: 1 }] }, 404, 'MODEL_NOT_FOUND'],
    [
      'a shadow that does not exist',
      { split: [{ version: '1.0.0', weight: 1 }], shadow: '9.9.9' },
      404,
      'MODEL_NOT_FOUND',
    ],
  ])('refuses a split with %s', async (_case, body, status, code) => {
    const answer = await adminCall<{ error: { code: string } }>('PUT', '/v1/admin/models/mnist/traffic', body);
    expect(answer.status).toBe(status);
    expect(answer.json.error.code).toBe(code);
    expect((await traffic()).json.traffic).toBeNull();
  });

  it('refuses the traffic routes to a caller who is not an administrator', async () => {
    const response = await fetch(`${caller.baseUrl}/v1/admin/models/mnist/traffic`, {
      method: 'PUT',
      headers: { ...caller.user.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ split: [{ version: '1.1.0', weight: 1 }] }),
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
  });

  it('routes jobs that name no version by weight, records the version, and keeps named versions', async () => {
    const set = await adminCall<TrafficView>('PUT', '/v1/admin/models/mnist/traffic', {
      split: [
        { version: '1.0.0', weight: 70 },
        { version: '1.1.0', weight: 30 },
      ],
    });
    expect(set.status).toBe(200);
    expect(set.json.traffic?.baseline).toBe('1.0.0');
    expect(set.json.traffic?.split.map((entry) => entry.share)).toEqual([0.7, 0.3]);
    await untilWarm();
    const jobs = await submitMany(200);
    expect(jobs.every((job) => job.status === 'succeeded')).toBe(true);
    const rows = await rowsOf(jobs.map((job) => job.id));
    // Each job ran on the version it was routed to.
    expect(rows.every((row) => row.routed_version !== null && row.routed_version === row.model_version)).toBe(true);
    const candidate = rows.filter((row) => row.routed_version === '1.1.0').length;
    // 30% of 200 is 60 (binomial sd ≈ 6.5): well inside 35..85, and never all or nothing.
    expect(candidate).toBeGreaterThan(35);
    expect(candidate).toBeLessThan(85);
    // A job that names its version is not routed.
    const named = await waitForFinal(caller, (await submit(caller, digits[0]!, { version: '1.0.0' })).id);
    expect(named.model.version).toBe('1.0.0');
    expect((await rowsOf([named.id]))[0]?.routed_version).toBeNull();
  }, 120_000);

  it('keeps one user on one version with sticky "user"', async () => {
    expect(
      (
        await adminCall('PUT', '/v1/admin/models/mnist/traffic', {
          split: [
            { version: '1.0.0', weight: 50 },
            { version: '1.1.0', weight: 50 },
          ],
          sticky: 'user',
        })
      ).status,
    ).toBe(200);
    await untilWarm();
    const users = await Promise.all(
      Array.from({ length: 6 }, async () => ({
        baseUrl: caller.baseUrl,
        user: await createTestUser(databaseUrl, { tier: 'pro' }),
      })),
    );
    const versionsByUser = await Promise.all(
      users.map(
        async (user) =>
          new Set((await rowsOf((await submitMany(8, user)).map((job) => job.id))).map((row) => row.routed_version)),
      ),
    );
    for (const versions of versionsByUser) expect(versions.size).toBe(1);
  }, 120_000);

  it('runs a shadow beside the primary, hides its result, and a byte-identical candidate agrees on every pair', async () => {
    expect(
      (
        await adminCall('PUT', '/v1/admin/models/mnist/traffic', {
          split: [{ version: '1.0.0', weight: 1 }],
          shadow: '1.1.0',
        })
      ).status,
    ).toBe(200);
    await untilWarm();
    const jobs = await submitMany(30);
    // The owner sees the primary's version only.
    expect(jobs.every((job) => job.status === 'succeeded' && job.model.version === '1.0.0')).toBe(true);
    const ids = jobs.map((job) => job.id);
    await until(async () => (await shadowRowsOf(ids)).length === ids.length, 30_000);
    const shadows = await shadowRowsOf(ids);
    expect(shadows.every((row) => row.model_version === '1.1.0' && row.error_code === null)).toBe(true);
    const compared = await adminCall<ModelComparison>(
      'GET',
      '/v1/admin/models/mnist/compare?baseline=1.0.0&candidate=1.1.0',
    );
    expect(compared.status).toBe(200);
    expect(compared.json.shadow.pairs).toBe(30);
    expect(compared.json.shadow.agreement).toBe(1);
    expect(compared.json.shadow.maxAbsScoreDiff).toBe(0);
    expect(compared.json.baseline.jobs).toBe(30);
    expect(compared.json.candidate.shadowRuns).toBe(30);
    expect(compared.json.candidate.errorRate).toBe(0);
    // Its shadow runs' inference time: mnist's can be under half a millisecond for every run,
    // stored as 0 (whole milliseconds), so only that there is a figure is certain.
    expect(compared.json.candidate.p95Ms).toEqual(expect.any(Number));
  }, 120_000);

  it('clears the split when a version is made live again', async () => {
    expect((await traffic()).json.traffic).not.toBeNull();
    expect((await adminCall('POST', '/v1/admin/models/mnist/live', { version: '1.0.0' })).status).toBe(200);
    expect((await traffic()).json.traffic).toBeNull();
  });

  it('rolls a candidate that breaks a rule back to the baseline within a reconciler pass, records why and tells the administrators', async () => {
    const set = await adminCall<TrafficView>('PUT', '/v1/admin/models/mnist/traffic', {
      split: [{ version: '1.0.0', weight: 1 }],
      shadow: '1.2.0',
      rules: { minAgreement: 0.95, maxErrorRate: 0.5, minJobs: 10 },
    });
    expect(set.status).toBe(200);
    await untilWarm();
    await submitMany(12);
    await until(async () => (await traffic()).json.traffic === null, 30_000);
    const view = (await traffic()).json;
    expect(view.liveVersion).toBe('1.0.0');
    expect(view.rollbacks[0]).toMatchObject({
      model: 'mnist',
      baseline: '1.0.0',
      candidate: '1.2.0',
      rule: 'minAgreement',
    });
    await until(async () => received.length > 0, 15_000);
    const delivery = received[0]!;
    // Signed like job webhooks: the Standard Webhooks headers check with the typed client's verifier.
    expect(
      await verifyWebhookSignature({ secret: webhookSecret, body: delivery.body, headers: delivery.headers }),
    ).toBe(true);
    const event = JSON.parse(delivery.body) as {
      type: string;
      rollback: { candidate: string; rule: string };
      comparison: ModelComparison;
    };
    expect(event.type).toBe('model.rolled_back');
    expect(event.rollback).toMatchObject({ candidate: '1.2.0', rule: 'minAgreement' });
    expect(event.comparison.shadow.agreement).toBeLessThan(0.95);
    // Jobs that name no version run on the baseline again, once the API's view of the split is renewed.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const after = await submitMany(5);
    expect(
      (await rowsOf(after.map((job) => job.id))).every(
        (row) => row.routed_version === null && row.model_version === '1.0.0',
      ),
    ).toBe(true);
  }, 120_000);
});

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
