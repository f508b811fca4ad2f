import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addOnnxModel, ModelRegistry } from '@inferq/models';
import { datatypesModel, detectorModel, embeddingModel, tokenClassifierModel, twoInputModel } from '@inferq/testing';
import { halfBits, halfToNumber, readOutputs, toJsonData, type Tensor } from '@inferq/tensors';
import { loadModel, startOnnxRuntime, type InferenceEngines, type ServedModel } from '../src/index.ts';

const quiet = { info() {}, warn() {} };
let root: string;
let registry: ModelRegistry;
let engines: InferenceEngines;
const loaded: ServedModel[] = [];

async function add(name: string, bytes: Uint8Array, reader?: unknown): Promise<ServedModel> {
  const added = await addOnnxModel(registry, { name, bytes, reader });
  const model = await loadModel(added.model.location, added.model.manifest, { engines, engine: 'onnxruntime' });
  loaded.push(model);
  return model;
}

const fp32 = (name: string, shape: number[], values: number[]): Tensor => ({
  name,
  datatype: 'FP32',
  shape,
  data: Float32Array.from(values),
});
const values = (tensor: Tensor | undefined) => (tensor ? toJsonData(tensor.datatype, tensor.data) : undefined);

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'inferq-tensor-'));
  registry = new ModelRegistry({ root });
  engines = { tfjs: null, onnx: await startOnnxRuntime({ preferred: 'cpu', intraOpThreads: 1, logger: quiet }) };
});

afterAll(async () => {
  for (const model of loaded) model.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('tensor models', () => {
  it('reads the signature from the file, publishes and makes a new model live', async () => {
    const added = await addOnnxModel(registry, { name: 'pair', bytes: twoInputModel() });
    expect(added).toMatchObject({ version: '1', live: true, status: 'written' });
    expect(added.model.manifest.inputs).toEqual([
      { name: 'a', datatype: 'FP32', shape: [-1, 3] },
      { name: 'b', datatype: 'FP32', shape: [-1, 3] },
    ]);
    const second = await addOnnxModel(registry, { name: 'pair', bytes: tokenClassifierModel() });
    expect(second).toMatchObject({ version: '2', live: false });
    expect((await registry.resolve('pair')).manifest.version).toBe('1');
  });

  it('stacks requests of the same shape on the batch axis and splits every output back', async () => {
    const model = await add('two', twoInputModel());
    const first = [fp32('a', [1, 3], [1, 2, 3]), fp32('b', [1, 3], [10, 20, 30])];
    const second = [fp32('a', [2, 3], [1, 1, 1, 2, 2, 2]), fp32('b', [2, 3], [3, 3, 3, 4, 4, 4])];
    const [one, two] = await model.predictTensors([first, second]);
    expect(one?.map((t) => [t.name, t.shape])).toEqual([
      ['sum', [1, 3]],
      ['product', [1, 3]],
    ]);
    expect(values(one?.[0])).toEqual([11, 22, 33]);
    expect(values(two?.[1])).toEqual([3, 3, 3, 8, 8, 8]);
    expect(two?.[0]?.shape).toEqual([2, 3]);
  });

  it('takes int64 token ids and reads a classification', async () => {
    const model = await add('tokens', tokenClassifierModel(), {
      kind: 'classification',
      labels: ['first', 'second', 'bias'],
      topK: 2,
    });
    const ids: Tensor = { name: 'input_ids', datatype: 'INT64', shape: [1, 3], data: BigInt64Array.from([1n, 2n, 3n]) };
    const [outputs] = await model.predictTensors([[ids]]);
    expect(values(outputs?.[0])).toEqual([2, 4, 1]);
    const reading = readOutputs(model.manifest.reader, outputs ?? []);
    expect(reading).toEqual({
      kind: 'classification',
      top: [
        [
          { label: 'second', score: 4, index: 1 },
          { label: 'first', score: 2, index: 0 },
        ],
      ],
    });
  });

  it('reads embeddings and detections', async () => {
    const embedder = await add('embed', embeddingModel(), { kind: 'embedding', normalize: true });
    const [embedded] = await embedder.predictTensors([[fp32('features', [1, 4], [3, 0, 4, 0])]]);
    expect(readOutputs(embedder.manifest.reader, embedded ?? [])).toEqual({ kind: 'embedding', vectors: [[0.6, 0.8]] });
    const detector = await add('detect', detectorModel(), {
      kind: 'detection',
      boxes: 'boxes',
      scores: 'scores',
      classes: 'classes',
      labels: ['cat', 'dog'],
      minScore: 0.5,
    });
    const [found] = await detector.predictTensors([[fp32('image', [1, 4], [2, 0.1, 0.2, 0.3])]]);
    const reading = readOutputs(detector.manifest.reader, found ?? []);
    expect(reading.kind).toBe('detection');
    const detections = reading.kind === 'detection' ? reading.detections : [];
    expect(detections).toHaveLength(1);
    expect(detections[0]).toHaveLength(1);
    expect(detections[0]?.[0]).toMatchObject({ class: 0, label: 'cat' });
    expect(detections[0]?.[0]?.box.map((v) => Math.round(v * 10) / 10)).toEqual([2, 0.1, 0.2, 0.3]);
  });

  it('runs FP16, FP64, BOOL and UINT8 tensors of a fixed shape, each request alone', async () => {
    const model = await add('types', datatypesModel());
    const request = (scale: number): Tensor[] => [
      { name: 'half', datatype: 'FP16', shape: [2], data: Uint16Array.from([halfBits(1.5 * scale), halfBits(-2)]) },
      { name: 'double', datatype: 'FP64', shape: [2], data: Float64Array.from([0.1 * scale, 7]) },
      { name: 'flag', datatype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) },
      { name: 'byte', datatype: 'UINT8', shape: [2], data: Uint8Array.from([255, scale]) },
    ];
    const [first, second] = await model.predictTensors([request(1), request(2)]);
    expect(Array.from(first?.[0]?.data as Uint16Array, halfToNumber)).toEqual([3, -4]);
    expect(values(first?.[1])).toEqual([0.1, 0]);
    expect(values(first?.[2])).toEqual([false, true]);
    expect(values(second?.[3])).toEqual([255, 2]);
    expect(values(second?.[1])).toEqual([0.2, 0]);
  });
});
