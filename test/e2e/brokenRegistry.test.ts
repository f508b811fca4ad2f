import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelsView } from '@inferq/core';
import { readModelManifest } from '@inferq/models';
import type { PlatformProcess } from '@inferq/testing';
import { importMnistModel, mnistFixtureFolder } from '@inferq/training';
import {
  createTestUser,
  platformEnv,
  type Caller,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  waitForFinal,
} from './platform.ts';

/**
 * A registry with one invalid version (a model.json without modelTopology, which an older admin
 * route accepted) beside a good model: a worker serving `*` starts, skips the broken model,
 * reports it on /readyz and GET /v1/models, and serves the good one (on ONNX Runtime).
 */
describe('a worker on a registry holding an invalid version', () => {
  let root: string;
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let caller: Caller;
  let healthUrl = '';

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'inferq-broken-'));
    await importMnistModel({ outDir: root });
    const broken = path.join(root, 'broken', '1.0.0');
    await mkdir(broken, { recursive: true });
    const { sha256: _sha256, ...manifest } = await readModelManifest(mnistFixtureFolder);
    await writeFile(path.join(broken, 'model.json'), JSON.stringify({ format: 'layers-model', weightsManifest: [] }));
    await writeFile(
      path.join(broken, 'manifest.json'),
      JSON.stringify({ ...manifest, name: 'broken', version: '1.0.0', onnx: undefined, sha256: '0'.repeat(64) }),
    );
    const env = platformEnv({
      modelsDir: root,
      extra: { DEFAULT_MODEL: 'mnist', WORKER_MODELS: '*', HEARTBEAT_INTERVAL_MS: '200' },
    });
    const started = await Promise.all([
      startApiProcess(env),
      startWorkerProcess({ ...env, workerId: 'broken-registry' }),
    ]);
    api = started[0].process;
    worker = started[1].process;
    healthUrl = started[1].healthUrl;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl) };
  }, 180_000);

  afterAll(async () => {
    await stopAll([api, worker]);
    await rm(root, { recursive: true, force: true });
  });

  it('is ready, serving the good model and naming the broken one with its reason', async () => {
    const response = await fetch(`${healthUrl}/readyz`);
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.models.map((model: { name: string }) => model.name)).toEqual(['mnist']);
    expect(body.failedModels).toEqual([
      expect.objectContaining({
        name: 'broken',
        version: '1.0.0',
        code: 'MODEL_NOT_READY',
        reason: 'invalid-model-json',
      }),
    ]);
  });

  it('runs jobs for the good model and lists the broken one as failing to load on GET /v1/models', async () => {
    const digit = await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png()
      .toBuffer();
    const job = await waitForFinal(caller, (await submit(caller, digit, { model: 'mnist' })).id);
    expect(job.status).toBe('succeeded');
    expect(job.model.engine).toBe('onnxruntime-cpu');

    let view: ModelsView | undefined;
    for (let i = 0; i < 50; i++) {
      view = (await (
        await fetch(`${caller.baseUrl}/v1/models`, { headers: caller.user.headers })
      ).json()) as ModelsView;
      if (view.workers.some((w) => w.workerId === 'broken-registry')) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const brokenView = view?.models.find((model) => model.name === 'broken');
    expect(brokenView?.loadFailures).toEqual([
      expect.objectContaining({ workerId: 'broken-registry', version: '1.0.0', reason: 'invalid-model-json' }),
    ]);
    const workerView = view?.workers.find((w) => w.workerId === 'broken-registry');
    expect(workerView?.onnxRuntime?.provider).toBe('cpu');
    expect(workerView?.models).toEqual([expect.objectContaining({ name: 'mnist', engine: 'onnxruntime-cpu' })]);
  });
});
