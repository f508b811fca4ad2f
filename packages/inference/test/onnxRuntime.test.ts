import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '@inferq/core';
import {
  imageInputOf,
  hashModelFiles,
  modelProblemOf,
  ModelRegistry,
  readModelFiles,
  type ModelManifest,
  type ResolvedModel,
} from '@inferq/models';
import { importMnistModel } from '@inferq/training';
import { decodedRgbToInput, imageToInput } from '@inferq/images';
import { alignCornersResizeModel } from '@inferq/testing';
import sharp from 'sharp';
import {
  decodeOutput,
  engineFor,
  layersModelToOnnx,
  loadModel,
  onnxFileForLayers,
  readModelArtifacts,
  ServedModel,
  startOnnxRuntime,
  startTfjsBackend,
  type InferenceEngines,
  type OnnxRuntimeInfo,
} from '../src/index.ts';
import { importNsfwModel } from '../scripts/lib/importNsfwModel.ts';

const quiet = { info() {}, warn() {} };
const photos = ['astronaut.jpg', 'chelsea.jpg', 'coffee.jpg', 'rocket.jpg'];
const photo = (file: string) => readFile(path.join(import.meta.dirname, 'fixtures', 'photos', file));

let root: string;
let engines: InferenceEngines;
let ort: OnnxRuntimeInfo | undefined;
let nsfw: ResolvedModel;
let mnist: ResolvedModel;
const loaded: ServedModel[] = [];

/** Seeded inputs in [0, 1] of the model's size. */
function noiseInputs(count: number, size: number, seed: number): Float32Array[] {
  let state = seed;
  return Array.from({ length: count }, () =>
    Float32Array.from({ length: size }, () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    }),
  );
}

function maxDifference(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((row, i) => row.forEach((value, j) => (max = Math.max(max, Math.abs(value - (b[i]?.[j] as number))))));
  return max;
}

async function load(
  resolved: ResolvedModel,
  engine: 'onnxruntime' | 'tfjs',
  manifest: ModelManifest = resolved.manifest,
): Promise<ServedModel> {
  const model = await loadModel(resolved.location, manifest, { engines, engine });
  loaded.push(model);
  return model;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'inferq-onnx-'));
  await importNsfwModel({ outDir: root });
  await importMnistModel({ outDir: root });
  engines = {
    tfjs: await startTfjsBackend({ preferred: 'wasm', logger: quiet }),
    onnx: await startOnnxRuntime({ preferred: 'auto', intraOpThreads: 1, logger: quiet, hasGpuDevice: () => false }),
  };
  ort = engines.onnx?.info;
  const registry = new ModelRegistry({ root });
  nsfw = await registry.resolve('nsfw');
  mnist = await registry.resolve('mnist');
});

afterAll(async () => {
  for (const model of loaded) model.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('startOnnxRuntime', () => {
  it('picks the cpu provider on a host without GPU libraries, saying why each better one was skipped', () => {
    expect(ort).toMatchObject({ provider: 'cpu', engine: 'onnxruntime-cpu', intraOpThreads: 1 });
    expect(ort?.skipped.map((s) => s.name)).toEqual(['tensorrt', 'cuda', 'webgpu']);
    // The CUDA providers' libraries are what is missing here (the install script is not run).
    expect(ort?.skipped[1]?.reason).toMatch(/shared library|libonnxruntime_providers/i);
    expect(ort?.skipped[2]?.reason).toMatch(/no GPU device/);
  });

  it('refuses a named provider that cannot start, and starts nothing for none', async () => {
    const error = await startOnnxRuntime({ preferred: 'cuda', logger: quiet }).catch((e: unknown) => e);
    expect((error as AppError).code).toBe('MODEL_NOT_READY');
    expect((error as AppError).details).toMatchObject({ preferred: 'cuda', skipped: [{ name: 'cuda' }] });
    expect(await startOnnxRuntime({ preferred: 'none', logger: quiet })).toBeNull();
  });

  it('is passed in: the engines given decide, and two runtimes live side by side in one process', async () => {
    expect(engineFor(nsfw.manifest, { ...engines, onnx: null })).toBe('tfjs');
    expect(engineFor(nsfw.manifest, engines)).toBe('onnxruntime');
    expect(engineFor(nsfw.manifest, engines, 'tfjs')).toBe('tfjs');
    const twoThreads = await startOnnxRuntime({ preferred: 'cpu', intraOpThreads: 2, logger: quiet });
    expect(twoThreads?.info).toMatchObject({ provider: 'cpu', intraOpThreads: 2 });
    const other = await loadModel(mnist.location, mnist.manifest, {
      engines: { tfjs: null, onnx: twoThreads },
      engine: 'onnxruntime',
    });
    loaded.push(other);
    const model = await load(mnist, 'onnxruntime');
    const inputs = noiseInputs(2, model.inputSize, 11);
    expect(maxDifference(await other.predictBatch(inputs), await model.predictBatch(inputs))).toBeLessThanOrEqual(1e-5);
    // The first runtime is still the one its models were made on: starting another changed nothing.
    expect(engines.onnx?.info.intraOpThreads).toBe(1);
  });

  it('runs a batch as calls of at most its call size, with the same outputs as one call of the batch', async () => {
    const model = await load(mnist, 'onnxruntime');
    const inputs = noiseInputs(5, model.inputSize, 23);
    const whole = await model.predictBatch(inputs);
    expect(model.callSize).toBe(Number.POSITIVE_INFINITY);
    model.limitCallSize(2);
    expect(model.callSize).toBe(2);
    expect(maxDifference(await model.predictBatch(inputs), whole)).toBeLessThanOrEqual(1e-5);
    expect(() => model.limitCallSize(0)).toThrow(RangeError);

    // The calls themselves, in order: an engine that answers each input's first value.
    const calls: number[] = [];
    const recorded = new ServedModel({
      manifest: mnist.manifest,
      location: mnist.location,
      runner: {
        engine: 'recording',
        layout: 'nhwc',
        run: async (batch, shape) => {
          calls.push(shape[0]);
          return Float32Array.from({ length: shape[0] * 10 }, (_, i) => batch[Math.floor(i / 10) * model.inputSize]!);
        },
        dispose: () => {},
      },
    });
    recorded.limitCallSize(2);
    const vectors = await recorded.predictBatch(inputs);
    expect(calls).toEqual([2, 2, 1]);
    expect(vectors.map((vector) => vector[0])).toEqual(inputs.map((input) => input[0]));
  });

  it('leaves a version that needs TF.js unloadable on engines without it', async () => {
    const error = await loadModel(mnist.location, mnist.manifest, {
      engines: { tfjs: null, onnx: engines.onnx },
      engine: 'tfjs',
    }).catch((e: unknown) => e);
    expect((error as AppError).code).toBe('MODEL_NOT_READY');
  });
});

describe('the shipped models converted to ONNX (layersToOnnx)', () => {
  it('converts reproducibly: the same bytes on every run, hashed in the manifest', async () => {
    const other = await mkdtemp(path.join(tmpdir(), 'inferq-onnx-'));
    try {
      await importNsfwModel({ outDir: other });
      const again = await readFile(path.join(other, 'nsfw', nsfw.version, 'model.onnx'));
      expect(Buffer.compare(again, await readFile(path.join(nsfw.location, 'model.onnx')))).toBe(0);
      expect(nsfw.manifest.onnx?.sha256).toBe(hashModelFiles([{ path: 'model.onnx', bytes: again }]));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
    // The converter alone, from the registry's TF.js files, gives a model of the same size.
    expect(onnxFileForLayers(await readModelFiles(nsfw.location)).bytes.byteLength).toBeGreaterThan(10_000_000);
    expect(mnist.manifest.onnx?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['nsfw', () => nsfw],
    ['mnist', () => mnist],
  ])('gives the TF.js outputs (≤ 1e-4) for %s on the same inputs, one by one and batched', async (_name, resolved) => {
    const onnx = await load(resolved(), 'onnxruntime');
    const tfjs = await load(resolved(), 'tfjs');
    expect(onnx.engine).toBe('onnxruntime-cpu');
    expect(tfjs.engine).toBe('tfjs-wasm');
    const inputs = noiseInputs(3, onnx.inputSize, 11);
    const expected = await tfjs.predictBatch(inputs);
    expect(maxDifference(await onnx.predictBatch(inputs), expected)).toBeLessThanOrEqual(1e-4);
    expect(
      maxDifference([(await onnx.predictBatch([inputs[2] as Float32Array]))[0] as number[]], [expected[2] as number[]]),
    ).toBeLessThanOrEqual(1e-4);
  });

  it.each(photos)('scores the photo %s like TF.js (≤ 1e-4 per class)', async (file) => {
    const onnx = await load(nsfw, 'onnxruntime');
    const tfjs = await load(nsfw, 'tfjs');
    const input = await imageToInput(await photo(file), imageInputOf(nsfw.manifest));
    const [a] = await onnx.predictBatch([input]);
    const [b] = await tfjs.predictBatch([input]);
    const ours = decodeOutput(a as number[], nsfw.manifest).scores;
    const theirs = decodeOutput(b as number[], nsfw.manifest).scores;
    ours.forEach((score, i) => expect(Math.abs(score - (theirs[i] as number))).toBeLessThanOrEqual(1e-4));
  });

  it('runs an NCHW model (as PyTorch exports them) from the same HWC inputs, transposed by the worker', async () => {
    const artifacts = await readModelArtifacts(nsfw.location);
    const weights = Buffer.concat(artifacts.files.slice(1).map((f) => f.bytes));
    const nchw = layersModelToOnnx(
      artifacts.modelJson,
      weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      { inputLayout: 'nchw' },
    );
    const registry = new ModelRegistry({ root });
    const published = await registry.publish({
      name: 'nsfw-nchw',
      version: '1',
      files: [{ path: 'model.onnx', bytes: nchw }],
      manifest: {
        format: 'onnx',
        input: { ...imageInputOf(nsfw.manifest), layout: 'nchw' },
        output: nsfw.manifest.output,
      },
    });
    const model = await load(published.model, 'onnxruntime');
    const reference = await load(nsfw, 'tfjs');
    const inputs = noiseInputs(2, model.inputSize, 5);
    expect(maxDifference(await model.predictBatch(inputs), await reference.predictBatch(inputs))).toBeLessThanOrEqual(
      1e-4,
    );
  });
});

describe("a model's resize as ONNX nodes (pnpm bench resize-graph)", () => {
  it("gives the worker's input values from the decoded 8-bit pixels, on floats; rounded on 8-bit", async () => {
    const input = imageInputOf(nsfw.manifest);
    if (input.scale.mode !== 'divide') throw new Error('nsfw divides its pixels by a constant');
    const { divisor } = input.scale;
    const sessions = await Promise.all(
      (['cast first', 'resize first'] as const).map((order) =>
        engines.onnx!.createSession(alignCornersResizeModel({ outW: input.width, outH: input.height, divisor, order })),
      ),
    );
    const largest = [0, 0];
    for (const file of photos) {
      const { data, info } = await sharp(await photo(file))
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      const worker = decodedRgbToInput({ data, width: info.width, height: info.height, orientation: 1 }, input);
      for (const [s, { session, ort }] of sessions.entries()) {
        const output = await session.run({ pixels: new ort.Tensor('uint8', data, [1, info.height, info.width, 3]) });
        const values = output.input!.data as Float32Array;
        expect(values.length).toBe(worker.length);
        for (let i = 0; i < values.length; i++) largest[s] = Math.max(largest[s]!, Math.abs(values[i]! - worker[i]!));
      }
    }
    for (const { session } of sessions) await session.release();
    // Floats: the same sample points and weights, float32 rounding apart.
    expect(largest[0]).toBeLessThan(1e-4);
    // 8-bit: each value rounded to a whole level before the scaling, so off by up to about a level.
    expect(largest[1]).toBeGreaterThan(1e-4);
    expect(largest[1]).toBeLessThan(2 / 255);
  });
});

describe('bad ONNX files', () => {
  async function versionWith(
    name: string,
    onnxBytes: Uint8Array,
    manifestChange: Partial<ModelManifest> = {},
  ): Promise<ResolvedModel> {
    const folder = path.join(root, name, '1');
    await cp(mnist.location, folder, { recursive: true });
    const manifest = { ...mnist.manifest, name, version: '1', ...manifestChange };
    await writeFile(path.join(folder, 'model.onnx'), onnxBytes);
    await writeFile(path.join(folder, 'manifest.json'), JSON.stringify(manifest));
    return new ModelRegistry({ root }).resolve(name);
  }

  it('answers MODEL_NOT_READY hash-mismatch for a model.onnx that changed after publishing', async () => {
    const resolved = await versionWith('changed-onnx', Buffer.from('not the file that was hashed'));
    const error = await loadModel(resolved.location, resolved.manifest, { engines }).catch((e: unknown) => e);
    expect(modelProblemOf(error)).toBe('hash-mismatch');
  });

  it('answers MODEL_NOT_READY load-failed for bytes ONNX Runtime cannot read, hash and all', async () => {
    const garbage = Buffer.from('this is not a protobuf');
    const resolved = await versionWith('garbage-onnx', garbage, {
      onnx: { sha256: hashModelFiles([{ path: 'model.onnx', bytes: garbage }]) },
    });
    const error = await loadModel(resolved.location, resolved.manifest, { engines }).catch((e: unknown) => e);
    expect(modelProblemOf(error)).toBe('load-failed');
  });

  it('answers MODEL_NOT_READY load-failed for an ONNX model whose input does not fit the manifest', async () => {
    const nsfwOnnx = await readFile(path.join(nsfw.location, 'model.onnx'));
    const resolved = await versionWith('mismatched-onnx', nsfwOnnx, {
      onnx: { sha256: hashModelFiles([{ path: 'model.onnx', bytes: nsfwOnnx }]) },
    });
    const error = await loadModel(resolved.location, resolved.manifest, { engines }).catch((e: unknown) => e);
    expect(modelProblemOf(error)).toBe('load-failed');
    expect((error as Error).message).toMatch(/224, 224, 3/);
  });

  it('refuses at publish an onnx version that is not ONNX, or takes another input', async () => {
    const registry = new ModelRegistry({ root });
    const manifest = { format: 'onnx' as const, input: mnist.manifest.input, output: mnist.manifest.output };
    const notOnnx = await registry
      .publish({
        name: 'refused',
        version: '1',
        files: [{ path: 'model.onnx', bytes: Buffer.from('garbage') }],
        manifest,
      })
      .catch((e: unknown) => e);
    expect((notOnnx as AppError).code).toBe('VALIDATION_FAILED');
    const nsfwOnnx = await readFile(path.join(nsfw.location, 'model.onnx'));
    const wrongInput = await registry
      .publish({ name: 'refused', version: '1', files: [{ path: 'model.onnx', bytes: nsfwOnnx }], manifest })
      .catch((e: unknown) => e);
    expect((wrongInput as AppError).code).toBe('VALIDATION_FAILED');
    expect((wrongInput as AppError).details).toMatchObject({ field: 'input' });
  });
});
