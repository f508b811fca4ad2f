import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, startTfjsBackend, type InferenceEngines } from '@inferq/inference';
import { ModelRegistry } from '@inferq/models';
import {
  epochOrder,
  exportModel,
  listCheckpoints,
  loadMnist,
  mnistManifest,
  trainMnist,
  type MnistTrainingConfig,
} from '../src/index.ts';

// Small enough for a few seconds on two cores; big enough that the optimizer state matters.
const config: MnistTrainingConfig = { seed: 7, trainSize: 512, batchSize: 32, hiddenUnits: 16, learningRate: 0.01 };
let dir: string;
let engines: InferenceEngines;

beforeAll(async () => {
  engines = {
    tfjs: await startTfjsBackend({ preferred: 'wasm', logger: { info: () => {}, warn: () => {} } }),
    onnx: null,
  };
  dir = await mkdtemp(path.join(tmpdir(), 'inferq-train-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function weightsOf(model: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

function maxDifference(a: Float32Array[], b: Float32Array[]): number {
  expect(a.map((w) => w.length)).toEqual(b.map((w) => w.length));
  let max = 0;
  a.forEach((wa, i) => wa.forEach((v, j) => (max = Math.max(max, Math.abs(v - (b[i] as Float32Array)[j]!)))));
  return max;
}

describe('trainMnist', () => {
  it('resuming from epoch 2 of 4 gives the weights of 4 epochs straight through', async () => {
    const straight = await trainMnist({ epochs: 4, checkpointDir: path.join(dir, 'straight'), config, testSize: 0 });
    const first = await trainMnist({ epochs: 2, checkpointDir: path.join(dir, 'split'), config, testSize: 0 });
    const firstWeights = await weightsOf(first.model);
    first.model.dispose();
    const resumed = await trainMnist({
      epochs: 4,
      checkpointDir: path.join(dir, 'split'),
      resumeFrom: path.join(dir, 'split', 'epoch-0002'),
      testSize: 0,
    });

    expect(resumed.initialEpoch).toBe(2);
    expect(resumed.epochs.map((e) => e.epoch)).toEqual([3, 4]);
    expect(resumed.config).toEqual(config);
    const straightWeights = await weightsOf(straight.model);
    expect(maxDifference(await weightsOf(resumed.model), straightWeights)).toBeLessThan(1e-5);
    // The comparison can fail: two more epochs do move the weights.
    expect(maxDifference(firstWeights, straightWeights)).toBeGreaterThan(1e-3);
    // Losses per epoch match too, so each epoch saw the same examples in the same order.
    for (const [i, report] of resumed.epochs.entries())
      expect(report.loss).toBeCloseTo(straight.epochs[i + 2]!.loss, 5);
    straight.model.dispose();
    resumed.model.dispose();
  });

  it('resuming without the optimizer state would differ: the checkpoint carries Adam moments and step', async () => {
    const checkpoint = path.join(dir, 'straight', 'epoch-0002');
    const state = JSON.parse(await readFile(path.join(checkpoint, 'optimizer.json'), 'utf8')) as {
      specs: Array<{ name: string }>;
    };
    // iteration + first and second moments of 4 variables (2 kernels, 2 biases)
    expect(state.specs.length).toBe(1 + 2 * 4);
    expect(JSON.parse(await readFile(path.join(checkpoint, 'checkpoint.json'), 'utf8'))).toMatchObject({
      epoch: 2,
      config,
    });
    expect((await listCheckpoints(path.join(dir, 'straight'))).map((c) => c.epoch)).toEqual([1, 2, 3, 4]);
  });

  it('continues from the latest checkpoint and refuses a target below it', async () => {
    const more = await trainMnist({
      epochs: 5,
      checkpointDir: path.join(dir, 'straight'),
      resumeFrom: 'latest',
      testSize: 200,
    });
    expect(more.initialEpoch).toBe(4);
    expect(more.epoch).toBe(5);
    expect(more.testAccuracy).toBeGreaterThan(0.5);
    more.model.dispose();
    await expect(
      trainMnist({ epochs: 3, checkpointDir: path.join(dir, 'straight'), resumeFrom: 'latest', testSize: 0 }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(
      trainMnist({ epochs: 3, checkpointDir: path.join(dir, 'none'), resumeFrom: 'latest', testSize: 0 }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('orders each epoch by (seed, epoch) only', () => {
    expect(Array.from(epochOrder(100, 1, 3))).toEqual(Array.from(epochOrder(100, 1, 3)));
    expect(Array.from(epochOrder(100, 1, 3))).not.toEqual(Array.from(epochOrder(100, 1, 4)));
    expect([...epochOrder(100, 1, 3)].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('exports a registry version with its test accuracy that the worker loader serves', async () => {
    const run = await trainMnist({ epochs: 1, checkpointDir: path.join(dir, 'export'), config, testSize: 500 });
    const root = path.join(dir, 'registry');
    const published = await exportModel(run.model, {
      registryRoot: root,
      name: 'mnist',
      version: '0.1.0',
      manifest: mnistManifest({ testAccuracy: run.testAccuracy! }, 'test'),
      setLive: true,
    });
    run.model.dispose();
    expect(published.status).toBe('written');
    const resolved = await new ModelRegistry({ root }).resolve('mnist');
    expect(resolved.version).toBe('0.1.0');
    expect(resolved.manifest.metrics?.testAccuracy).toBe(run.testAccuracy);

    const served = await loadModel(resolved.location, resolved.manifest, { engines });
    const test = await loadMnist({ split: 'test', count: 50 });
    const inputs = Array.from({ length: test.count }, (_, i) =>
      Float32Array.from(test.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255),
    );
    const outputs = await served.predictBatch(inputs);
    const correct = outputs.filter((vector, i) => vector.indexOf(Math.max(...vector)) === test.labels[i]).length;
    expect(correct / test.count).toBeGreaterThan(0.5);
    served.dispose();
  });
});
