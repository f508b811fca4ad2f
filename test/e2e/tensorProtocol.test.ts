import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferQClient, InferQError } from '@inferq/client';
import {
  datatypesModel,
  detectorModel,
  embeddingModel,
  tokenClassifierModel,
  twoInputModel,
  type PlatformProcess,
} from '@inferq/testing';
import { createTestUser, platformEnv, startApiProcess, startWorkerProcess, stopAll, type Caller } from './platform.ts';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../..');

/**
 * Tensor models end to end: ONNX files made here are added with `inferq-admin models add` (and
 * the admin upload route), a worker serving `*` picks them up without a restart, and they are
 * called through /v2 as a client written from the protocol would: JSON and binary tensors, sync
 * and respond-async, requested outputs, the protocol's errors.
 */
describe('the Open Inference Protocol (/v2) over tensor models, with real processes', () => {
  let root: string;
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let caller: Caller;
  let admin: Caller;

  const addModel = async (file: string, bytes: Uint8Array, name: string, extra: string[] = []) => {
    const onnxPath = path.join(root, '..', `${path.basename(root)}-${file}`);
    await writeFile(onnxPath, bytes);
    const { stdout } = await run(
      process.execPath,
      ['apps/admin/src/index.ts', 'models', 'add', onnxPath, '--name', name, '--json', ...extra],
      {
        cwd: repoRoot,
        env: { ...process.env, MODELS_DIR: root },
      },
    );
    return JSON.parse(stdout) as { status: string; version: string; live: boolean; inputs: unknown[] };
  };
  const v2 = (who: Caller, route: string, init: RequestInit = {}) =>
    fetch(`${who.baseUrl}/v2${route}`, {
      ...init,
      headers: { ...who.user.headers, ...(init.headers as Record<string, string> | undefined) },
    });
  const infer = (model: string, body: unknown, headers: Record<string, string> = {}) =>
    v2(caller, `/models/${model}/infer`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });
  const untilReady = async (model: string) => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if ((await v2(caller, `/models/${model}/ready`)).status === 200) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${model} never became ready`);
  };

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'inferq-v2-'));
    // The worker starts with one model; the others are added while it runs.
    const first = await addModel('embed.onnx', embeddingModel(), 'embed', [
      '--reader',
      '{"kind":"embedding","normalize":true}',
    ]);
    expect(first).toMatchObject({ status: 'written', version: '1', live: true });
    const env = platformEnv({
      modelsDir: root,
      extra: {
        DEFAULT_MODEL: 'embed',
        WORKER_MODELS: '*',
        MODEL_WATCH_INTERVAL_MS: '200',
        HEARTBEAT_INTERVAL_MS: '200',
        TIER_OVERRIDES: JSON.stringify({ free: { requestsPerWindow: 1_000_000, submitsPerWindow: 1_000_000 } }),
      },
    });
    const started = await Promise.all([startApiProcess(env), startWorkerProcess({ ...env, workerId: 'v2-e2e' })]);
    api = started[0].process;
    worker = started[1].process;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl) };
    admin = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl, { role: 'admin' }) };
    await addModel('pair.onnx', twoInputModel(), 'pair');
    await addModel('types.onnx', datatypesModel(), 'types');
    await addModel('detect.onnx', detectorModel(), 'detect', [
      '--reader',
      JSON.stringify({
        kind: 'detection',
        boxes: 'boxes',
        scores: 'scores',
        classes: 'classes',
        labels: ['cat', 'dog'],
        minScore: 0.5,
      }),
    ]);
    // The token classifier through the admin upload route instead of the CLI.
    const reader = encodeURIComponent(
      JSON.stringify({ kind: 'classification', labels: ['first', 'second', 'bias'], topK: 2 }),
    );
    const uploaded = await fetch(`${admin.baseUrl}/v1/admin/models/tokens/onnx?reader=${reader}`, {
      method: 'POST',
      body: Buffer.from(tokenClassifierModel()),
      headers: { ...admin.user.headers, 'content-type': 'application/octet-stream' },
    });
    expect(uploaded.status).toBe(201);
    expect(await uploaded.json()).toMatchObject({
      version: '1',
      live: true,
      inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, -1] }],
    });
    for (const model of ['embed', 'pair', 'types', 'detect', 'tokens']) await untilReady(model);
  }, 240_000);

  afterAll(async () => {
    await stopAll([api, worker]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('answers server metadata and health without a key, model metadata with one', async () => {
    const server = await fetch(`${caller.baseUrl}/v2`);
    expect(server.status).toBe(200);
    expect(await server.json()).toMatchObject({
      name: 'inferq',
      extensions: expect.arrayContaining(['binary_tensor_data']),
    });
    expect((await fetch(`${caller.baseUrl}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${caller.baseUrl}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${caller.baseUrl}/v2/models/pair`)).status).toBe(401);
    const metadata = await v2(caller, '/models/pair/versions/1');
    expect(await metadata.json()).toEqual({
      name: 'pair',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [-1, 3] },
        { name: 'b', datatype: 'FP32', shape: [-1, 3] },
      ],
      outputs: [
        { name: 'sum', datatype: 'FP32', shape: [-1, 3] },
        { name: 'product', datatype: 'FP32', shape: [-1, 3] },
      ],
    });
  });

  it('runs a two-input model with JSON tensors and waits for the result; requested outputs only', async () => {
    const response = await infer('pair', {
      id: 'req-1',
      inputs: [
        { name: 'a', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
        { name: 'b', shape: [1, 3], datatype: 'FP32', data: [[10, 20, 30]] },
      ],
      outputs: [{ name: 'product' }],
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-location')).toMatch(/^\/v1\/jobs\/[0-9a-f-]{36}$/);
    expect(await response.json()).toEqual({
      model_name: 'pair',
      model_version: '1',
      id: 'req-1',
      outputs: [{ name: 'product', datatype: 'FP32', shape: [1, 3], data: [10, 40, 90] }],
    });
  });

  it('batches concurrent requests of the same shape and answers each its own rows', async () => {
    const answers = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const rows = (i % 3) + 1;
        const a = Array.from({ length: rows * 3 }, (_, k) => i + k);
        const response = await infer('pair', {
          inputs: [
            { name: 'a', shape: [rows, 3], datatype: 'FP32', data: a },
            { name: 'b', shape: [rows, 3], datatype: 'FP32', data: a.map(() => 1) },
          ],
          outputs: [{ name: 'sum' }],
        });
        const body = (await response.json()) as { outputs: Array<{ shape: number[]; data: number[] }> };
        return { expected: a.map((v) => v + 1), rows, output: body.outputs[0] };
      }),
    );
    for (const { expected, rows, output } of answers)
      expect(output).toMatchObject({ shape: [rows, 3], data: expected });
  });

  it('takes binary tensors and answers binary outputs: FP16, FP64, BOOL and UINT8', async () => {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'half', shape: [2], datatype: 'FP16', parameters: { binary_data_size: 4 } },
          { name: 'double', shape: [2], datatype: 'FP64', parameters: { binary_data_size: 16 } },
          { name: 'flag', shape: [2], datatype: 'BOOL', data: [true, false] },
          { name: 'byte', shape: [2], datatype: 'UINT8', parameters: { binary_data_size: 2 } },
        ],
        outputs: [
          { name: 'half_twice', parameters: { binary_data: true } },
          { name: 'double_masked', parameters: { binary_data: true } },
          { name: 'not_flag' },
          { name: 'byte_copy', parameters: { binary_data: true } },
        ],
      }),
    );
    const half = Buffer.alloc(4);
    half.writeUInt16LE(0x3e00, 0); // 1.5
    half.writeUInt16LE(0xc000, 2); // -2
    const double = Buffer.alloc(16);
    double.writeDoubleLE(0.25, 0);
    double.writeDoubleLE(7, 8);
    const response = await v2(caller, '/models/types/infer', {
      method: 'POST',
      body: Buffer.concat([header, half, double, Buffer.from([255, 3])]),
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.byteLength),
      },
    });
    expect(response.status).toBe(200);
    const length = Number(response.headers.get('inference-header-content-length'));
    const body = Buffer.from(await response.arrayBuffer());
    const json = JSON.parse(body.subarray(0, length).toString('utf8')) as {
      outputs: Array<{ name: string; datatype: string; parameters?: { binary_data_size: number }; data?: unknown[] }>;
    };
    expect(json.outputs.map((o) => [o.name, o.datatype, o.parameters?.binary_data_size ?? null])).toEqual([
      ['half_twice', 'FP16', 4],
      ['double_masked', 'FP64', 16],
      ['not_flag', 'BOOL', null],
      ['byte_copy', 'UINT8', 2],
    ]);
    expect(json.outputs[2]?.data).toEqual([false, true]);
    const binary = body.subarray(length);
    expect(binary.byteLength).toBe(22);
    expect([binary.readUInt16LE(0), binary.readUInt16LE(2)]).toEqual([0x4200, 0xc400]); // 3, -4
    expect([binary.readDoubleLE(4), binary.readDoubleLE(12)]).toEqual([0.25, 0]);
    expect([...binary.subarray(20)]).toEqual([255, 3]);
  });

  it('answers 202 and the job under Prefer: respond-async; the finished job carries protocol outputs and the reading', async () => {
    const response = await infer(
      'tokens',
      { inputs: [{ name: 'input_ids', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] }] },
      { prefer: 'respond-async' },
    );
    expect(response.status).toBe(202);
    const location = response.headers.get('location');
    expect(location).toMatch(/^\/v1\/jobs\/[0-9a-f-]{36}$/);
    const deadline = Date.now() + 30_000;
    let job:
      | {
          status: string;
          input: { format: string };
          result: { outputs: unknown; reading: unknown; top: unknown } | null;
        }
      | undefined;
    while (Date.now() < deadline) {
      job = (await (
        await fetch(`${caller.baseUrl}${location}?wait=10`, { headers: caller.user.headers })
      ).json()) as typeof job;
      if (job?.status === 'succeeded' || job?.status === 'failed') break;
    }
    expect(job?.status).toBe('succeeded');
    expect(job?.input.format).toBe('tensor');
    expect(job?.result?.outputs).toEqual([{ name: 'logits', datatype: 'FP32', shape: [1, 3], data: [2, 4, 1] }]);
    expect(job?.result?.reading).toEqual({
      kind: 'classification',
      top: [
        [
          { label: 'second', score: 4, index: 1 },
          { label: 'first', score: 2, index: 0 },
        ],
      ],
    });
    expect(job?.result?.top).toEqual([
      { label: 'second', score: 4 },
      { label: 'first', score: 2 },
    ]);
  });

  it('reads embeddings and detections into the job', async () => {
    const embedded = await infer('embed', {
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [3, 0, 4, 0] }],
    });
    const embedJob = await (
      await fetch(`${caller.baseUrl}${embedded.headers.get('content-location')}`, { headers: caller.user.headers })
    ).json();
    expect(embedJob.result.reading).toEqual({ kind: 'embedding', vectors: [[0.6, 0.8]] });
    const detected = await infer('detect', {
      inputs: [{ name: 'image', shape: [1, 4], datatype: 'FP32', data: [2, 0.5, 0.5, 0.5] }],
    });
    expect(detected.status).toBe(200);
    const detectJob = await (
      await fetch(`${caller.baseUrl}${detected.headers.get('content-location')}`, { headers: caller.user.headers })
    ).json();
    expect(detectJob.result.reading.kind).toBe('detection');
    expect(detectJob.result.reading.detections[0]).toHaveLength(1);
    expect(detectJob.result.reading.detections[0][0]).toMatchObject({
      class: 0,
      label: 'cat',
      box: [2, 0.5, 0.5, 0.5],
    });
  });

  it('is called through the typed client: infer, inferAsync, metadata, the readings, INVALID_TENSOR', async () => {
    const client = new InferQClient({ baseUrl: caller.baseUrl, apiKey: caller.user.key });
    expect((await client.modelMetadata('tokens')).inputs).toEqual([
      { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
    ]);
    const answer = await client.infer('pair', {
      inputs: [
        { name: 'a', shape: [1, 3], datatype: 'FP32', data: Float32Array.of(1, 2, 3) },
        { name: 'b', shape: [1, 3], datatype: 'FP32', data: [1, 1, 1] },
      ],
    } as never);
    expect(answer.outputs.map((output) => [output.name, output.data])).toEqual([
      ['sum', [2, 3, 4]],
      ['product', [1, 2, 3]],
    ]);
    const job = await client.inferAsync('embed', {
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [0, 5, 0, 12] }],
    });
    const done = await client.wait(job.id);
    expect(done.result?.reading).toEqual({ kind: 'embedding', vectors: [[5 / 13, 12 / 13]] });
    const refused = await client
      .infer('pair', { inputs: [{ name: 'a', shape: [1, 3], datatype: 'FP32', data: [1] }] })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InferQError);
    expect((refused as InferQError).code).toBe('INVALID_TENSOR');
    expect((refused as InferQError).status).toBe(400);
  });

  it('is called through the Python client: infer, infer_async, model_metadata, INVALID_TENSOR', async () => {
    const script = [
      'import json, os, inferq',
      'c = inferq.InferQClient(os.environ["INFERQ_URL"], os.environ["INFERQ_API_KEY"])',
      'meta = c.model_metadata("pair")',
      'answer = c.infer("pair", [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}, {"name": "b", "datatype": "FP32", "shape": [1, 3], "data": [2, 2, 2]}], outputs=["product"])',
      'job = c.wait(c.infer_async("tokens", [{"name": "input_ids", "datatype": "INT64", "shape": [1, 2], "data": [4, 4]}])["id"])',
      'try:',
      '    c.infer("pair", [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1]}])',
      '    code = None',
      'except inferq.InferQError as error:',
      '    code = [error.code, error.status]',
      'print(json.dumps({"inputs": meta["inputs"], "outputs": answer["outputs"], "reading": job["result"]["reading"], "refused": code}))',
    ].join('\n');
    const { stdout } = await run('python3', ['-c', script], {
      cwd: repoRoot,
      env: {
        ...process.env,
        PYTHONPATH: path.join(repoRoot, 'clients/python'),
        INFERQ_URL: caller.baseUrl,
        INFERQ_API_KEY: caller.user.key,
      },
    });
    expect(JSON.parse(stdout)).toEqual({
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [-1, 3] },
        { name: 'b', datatype: 'FP32', shape: [-1, 3] },
      ],
      outputs: [{ name: 'product', datatype: 'FP32', shape: [1, 3], data: [2, 4, 6] }],
      reading: {
        kind: 'classification',
        top: [
          [
            { label: 'second', score: 8, index: 1 },
            { label: 'first', score: 4, index: 0 },
          ],
        ],
      },
      refused: ['INVALID_TENSOR', 400],
    });
  });

  it('answers the same job again for a repeated Idempotency-Key', async () => {
    const body = { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 1, 1, 1] }] };
    const first = await infer('embed', body, { 'idempotency-key': 'v2-key-1' });
    const second = await infer('embed', body, { 'idempotency-key': 'v2-key-1' });
    expect(second.headers.get('content-location')).toBe(first.headers.get('content-location'));
    const other = await infer(
      'embed',
      { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [2, 2, 2, 2] }] },
      { 'idempotency-key': 'v2-key-1' },
    );
    expect(other.status).toBe(422);
    expect((await other.json()).code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it.each([
    [
      'a wrong datatype',
      'pair',
      {
        inputs: [
          { name: 'a', shape: [1, 3], datatype: 'INT32', data: [1, 2, 3] },
          { name: 'b', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
        ],
      },
      400,
      'INVALID_TENSOR',
    ],
    [
      'a wrong shape',
      'pair',
      {
        inputs: [
          { name: 'a', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] },
          { name: 'b', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
        ],
      },
      400,
      'INVALID_TENSOR',
    ],
    [
      'a wrong element count',
      'pair',
      {
        inputs: [
          { name: 'a', shape: [1, 3], datatype: 'FP32', data: [1, 2] },
          { name: 'b', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
        ],
      },
      400,
      'INVALID_TENSOR',
    ],
    [
      'a missing input',
      'pair',
      { inputs: [{ name: 'a', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] },
      400,
      'INVALID_TENSOR',
    ],
    [
      'an unknown output',
      'pair',
      {
        inputs: [
          { name: 'a', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
          { name: 'b', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
        ],
        outputs: [{ name: 'nope' }],
      },
      400,
      'INVALID_TENSOR',
    ],
    [
      'an int64 id out of range',
      'tokens',
      { inputs: [{ name: 'input_ids', shape: [1, 1], datatype: 'INT64', data: [1.5] }] },
      400,
      'INVALID_TENSOR',
    ],
    [
      'an unknown model',
      'nope',
      { inputs: [{ name: 'a', shape: [1], datatype: 'FP32', data: [1] }] },
      404,
      'MODEL_NOT_FOUND',
    ],
  ])('refuses %s with the protocol error shape', async (_case, model, body, status, code) => {
    const response = await infer(model, body);
    expect(response.status).toBe(status);
    const json = (await response.json()) as { error: unknown; code: string };
    expect(typeof json.error).toBe('string');
    expect(json.code).toBe(code);
  });

  it('refuses metadata of an unknown model with 404 and an image to a tensor model', async () => {
    expect((await v2(caller, '/models/nope')).status).toBe(404);
    const form = new FormData();
    form.append('image', new Blob([Buffer.from('not an image')]), 'x.png');
    form.append('model', 'pair');
    const response = await fetch(`${caller.baseUrl}/v1/jobs`, {
      method: 'POST',
      body: form,
      headers: caller.user.headers,
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('MODEL_KIND_MISMATCH');
  });
});
