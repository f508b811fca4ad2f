import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { ModelsView, ModelView } from '@inferq/core';
import { ModelRegistry, readModelFiles, readModelManifest } from '@inferq/models';
import { WorkerRegistry } from '@inferq/queue';
import { createTestUser, type TestUser } from '@inferq/testing';
import { mnistFixtureFolder } from '@inferq/training';
import { validJpeg } from '@inferq/images/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';

// A model name of its own: worker heartbeats of other tests in this run never mention it.
const name = `digits-${randomUUID().slice(0, 8)}`;
let root: string;
let api: TestApi;
let admin: TestUser;
let mnistManifest: Awaited<ReturnType<typeof readModelManifest>>;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'inferq-api-models-'));
  const registry = new ModelRegistry({ root });
  mnistManifest = await readModelManifest(mnistFixtureFolder);
  const { name: _n, version: _v, sha256: _s, ...manifest } = mnistManifest;
  const files = await readModelFiles(mnistFixtureFolder);
  await registry.publish({ name, version: '1.0.0', files, manifest, setLive: true });
  // Other weights, to publish under an existing version.
  const otherShard = { ...files[1]!, bytes: Buffer.from(files[1]!.bytes).fill(0, 0, 4) };
  await registry.publish({ name, version: '0.5.0', files: [files[0]!, otherShard], manifest });
  // The test API itself stands in for an internal model store on 127.0.0.1.
  api = await startTestApi({ registry, modelDownload: { policy: { allowHosts: ['127.0.0.1'] } } });
  admin = await createTestUser(inject('databaseUrl'), { role: 'admin' });
});

afterAll(async () => {
  await api?.close();
  await rm(root, { recursive: true, force: true });
});

async function call(
  method: string,
  url: string,
  user: TestUser | null,
  body?: unknown,
): Promise<{ status: number; json: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(user?.headers ?? {}) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${api.baseUrl}${url}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null, headers: response.headers };
}

const publishBody = () => ({
  version: '1.1.0',
  url: `${api.baseUrl}/v1/models/${name}/1.0.0/model.json`,
  format: 'layers',
  input: mnistManifest.input,
  output: mnistManifest.output,
  metrics: { testAccuracy: 0.96 },
});

describe('GET /v1/models', () => {
  it('needs an API key', async () => {
    expect((await call('GET', '/v1/models', null)).json.error.code).toBe('UNAUTHENTICATED');
  });

  it('lists each model with its versions, the live one, and where a browser loads it', async () => {
    const { status, json } = await call('GET', '/v1/models', api.user);
    expect(status).toBe(200);
    const model = (json as ModelsView).models.find((entry) => entry.name === name)!;
    expect(model).toMatchObject({ liveVersion: '1.0.0', remote: false, workers: 0, swap: null, problems: [] });
    expect(model.versions[1]).toMatchObject({
      version: '1.0.0',
      live: true,
      format: 'layers',
      sha256: mnistManifest.sha256,
      input: { width: 28, height: 28, channels: 1 },
      labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      workersReady: 0,
      engines: [],
      modelUrl: `/v1/models/${name}/1.0.0/model.json`,
    });
    expect(model.versions[1]?.metrics?.testAccuracy).toBeGreaterThan(0.95);
    expect((await call('GET', '/v1/models/no-such-model', api.user)).json.error.code).toBe('MODEL_NOT_FOUND');
  });
});

describe('admin model routes', () => {
  it('publishes a version from a model.json URL, idempotently, and makes it live', async () => {
    const first = await call('POST', `/v1/admin/models/${name}/versions`, admin, publishBody());
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ status: 'written', version: '1.1.0', sha256: mnistManifest.sha256 });
    expect(first.json.model.liveVersion).toBe('1.0.0');
    const again = await call('POST', `/v1/admin/models/${name}/versions`, admin, publishBody());
    expect(again.status).toBe(200);
    expect(again.json.status).toBe('unchanged');

    const live = await call('POST', `/v1/admin/models/${name}/live`, admin, { version: '1.1.0' });
    expect(live.status).toBe(200);
    expect((live.json as ModelView).liveVersion).toBe('1.1.0');
    expect(await readFile(path.join(root, name, 'LIVE'), 'utf8')).toBe('1.1.0\n');
  });

  it.each([
    ['a caller who is not an admin', 'user', `/v1/admin/models/NAME/live`, { version: '1.0.0' }, 403, 'FORBIDDEN'],
    ['an unknown version', 'admin', `/v1/admin/models/NAME/live`, { version: '9.9.9' }, 404, 'MODEL_NOT_FOUND'],
    ['no version', 'admin', `/v1/admin/models/NAME/live`, { version: undefined }, 400, 'VALIDATION_FAILED'],
    [
      'a non-http URL',
      'admin',
      `/v1/admin/models/NAME/versions`,
      { url: 'file:///etc/passwd' },
      400,
      'VALIDATION_FAILED',
    ],
    [
      'a URL with no model behind it',
      'admin',
      `/v1/admin/models/NAME/versions`,
      { version: '2.0.0', url: 'BASE/v1/models/NAME/1.0.0/nothing.json' },
      400,
      'VALIDATION_FAILED',
    ],
    [
      'an invalid manifest',
      'admin',
      `/v1/admin/models/NAME/versions`,
      { version: '2.0.0', output: { kind: 'classification', labels: [] } },
      400,
      'VALIDATION_FAILED',
    ],
    [
      'other files under an existing version',
      'admin',
      `/v1/admin/models/NAME/versions`,
      { version: '1.0.0', url: 'BASE/v1/models/NAME/0.5.0/model.json' },
      409,
      'CONFLICT',
    ],
  ])('refuses %s', async (_case, who, url, overrides, status, code) => {
    const body = JSON.parse(
      JSON.stringify({ ...publishBody(), ...overrides })
        .replaceAll('BASE', api.baseUrl)
        .replaceAll('NAME', name),
    );
    const response = await call('POST', url.replace('NAME', name), who === 'admin' ? admin : api.user, body);
    expect({ status: response.status, code: response.json.error.code }).toEqual({ status, code });
  });

  it('shows readiness and a swap in progress from worker heartbeats, with each failure and its reason', async () => {
    await call('POST', `/v1/admin/models/${name}/live`, admin, { version: '1.1.0' });
    const workers = new WorkerRegistry({
      connection: api.queue.connection,
      prefix: inject('queuePrefix'),
      ttlMs: 60_000,
    });
    const beat = (workerId: string, model: Record<string, unknown>) =>
      workers.beat({
        workerId,
        host: hostname(),
        pid: 1,
        backend: 'wasm',
        queue: 'test',
        models: [{ name, ...model } as never],
        currentBatch: 0,
        activeJobs: 0,
        jobsSucceeded: 0,
        jobsFailed: 0,
        startedAt: new Date().toISOString(),
        heartbeatAt: new Date().toISOString(),
      });
    const ids = [`${name}-a`, `${name}-b`, `${name}-c`];
    await beat(ids[0]!, { version: '1.1.0', engine: 'onnxruntime-cpu', loaded: ['1.1.0'], swap: null });
    await beat(ids[1]!, {
      version: '1.0.0',
      engine: 'tfjs-wasm',
      loaded: ['1.0.0'],
      swap: { to: '1.1.0', state: 'loading', since: new Date().toISOString() },
    });
    await beat(ids[2]!, {
      version: '1.0.0',
      engine: 'onnxruntime-cpu',
      loaded: ['1.0.0'],
      swap: {
        to: '1.1.0',
        state: 'failed',
        since: new Date().toISOString(),
        error: { code: 'MODEL_NOT_READY', reason: 'hash-mismatch', message: 'x' },
      },
    });
    try {
      const { json } = await call('GET', `/v1/models/${name}`, api.user);
      const model = json as ModelView;
      expect(model.workers).toBe(3);
      expect(model.versions.map((v) => [v.version, v.workersReady])).toEqual([
        ['0.5.0', 0],
        ['1.0.0', 2],
        ['1.1.0', 1],
      ]);
      // The engine of each version, from the workers serving it, not the workers' TF.js backend (wasm).
      expect(model.versions.map((v) => [v.version, v.engines])).toEqual([
        ['0.5.0', []],
        ['1.0.0', ['onnxruntime-cpu', 'tfjs-wasm']],
        ['1.1.0', ['onnxruntime-cpu']],
      ]);
      expect(model.swap).toEqual({
        to: '1.1.0',
        switched: 1,
        loading: 1,
        failures: [
          { workerId: ids[2], version: '1.1.0', code: 'MODEL_NOT_READY', reason: 'hash-mismatch', message: 'x' },
        ],
      });
      const listed = (await call('GET', '/v1/models', api.user)).json as ModelsView;
      expect(listed.workers.filter((w) => ids.includes(w.workerId)).map((w) => w.backend)).toEqual([
        'wasm',
        'wasm',
        'wasm',
      ]);
    } finally {
      await Promise.all(ids.map((id) => workers.remove(id)));
    }
  });
});

describe('public model files', () => {
  it('serves model.json and shards without a key, cacheable for a year, to any origin', async () => {
    const response = await fetch(`${api.baseUrl}/v1/models/${name}/1.0.0/model.json`, {
      headers: { origin: 'https://app.example' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    const modelJson = (await response.json()) as { weightsManifest: Array<{ paths: string[] }> };
    const shard = modelJson.weightsManifest[0]!.paths[0]!;
    const bytes = new Uint8Array(await (await fetch(`${api.baseUrl}/v1/models/${name}/1.0.0/${shard}`)).arrayBuffer());
    expect(Buffer.from(bytes).equals(await readFile(path.join(mnistFixtureFolder, shard)))).toBe(true);
    const preflight = await fetch(`${api.baseUrl}/v1/models/${name}/1.0.0/model.json`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    });
    expect(preflight.status).toBe(204);
  });

  it.each([
    ['a file model.json does not name', `/v1/models/NAME/1.0.0/other.bin`, 404, 'NOT_FOUND'],
    ['a path out of the folder', `/v1/models/NAME/1.0.0/..%2F..%2FLIVE`, 404, 'NOT_FOUND'],
    ['a SavedModel file', `/v1/models/NAME/1.0.0/saved_model.pb`, 404, 'NOT_FOUND'],
    ['an unknown version', `/v1/models/NAME/7.0.0/model.json`, 404, 'MODEL_NOT_FOUND'],
    ['an unknown model', `/v1/models/nope/1.0.0/model.json`, 404, 'MODEL_NOT_FOUND'],
  ])('answers %s with 404', async (_case, url, status, code) => {
    const response = await fetch(`${api.baseUrl}${url.replace('NAME', name)}`);
    expect({
      status: response.status,
      code: ((await response.json()) as { error: { code: string } }).error.code,
    }).toEqual({ status, code });
  });
});

// Names that a lookup in a plain object finds on Object.prototype: none may reach a 500 or a
// registry answer meant for a real model.
describe.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('the name "%s"', (given) => {
  const encoded = encodeURIComponent(given);

  it('is an unknown model on the public files route, as a name or a version', async () => {
    for (const url of [
      `/v1/models/${encoded}/1/model.json`,
      `/v1/models/${name}/${encoded}/model.json`,
      `/v1/models/${name}/1.0.0/${encoded}`,
    ]) {
      const response = await fetch(`${api.baseUrl}${url}`);
      expect({ url, status: response.status }).toEqual({ url, status: 404 });
    }
  });

  it('is an unknown model on the listing and the admin routes', async () => {
    expect((await call('GET', `/v1/models/${encoded}`, api.user)).status).toBe(404);
    const live = await call('POST', `/v1/admin/models/${encoded}/live`, admin, { version: '1.0.0' });
    expect({ status: live.status, code: live.json.error.code }).toEqual({ status: 404, code: 'MODEL_NOT_FOUND' });
    const version = await call('POST', `/v1/admin/models/${name}/live`, admin, { version: given });
    expect(version.status).toBe(404);
    const publish = await call('POST', `/v1/admin/models/${encoded}/versions`, admin, {
      ...publishBody(),
      version: '2.0.0',
      url: 'file:///x',
    });
    expect(publish.status).toBe(400);
  });

  it('is an unknown model, tier or status where a job or a user names it', async () => {
    const submit = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: api.user.headers,
      body: imageForm(await validJpeg(64, 64), { model: given }),
    });
    expect(submit.status).toBe(400);
    const list = await call('GET', `/v1/jobs?status=${encoded}`, api.user);
    expect(list.status).toBe(400);
    const tier = await call('PATCH', `/v1/admin/users/${api.user.userId}`, admin, { tier: given });
    expect(tier.status).toBe(400);
  });
});
