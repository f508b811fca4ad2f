import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeModelHash, modelManifestSchema } from '@inferq/models';
import { loadModel, startTfjsBackend, type InferenceEngines } from '../src/index.ts';

let folder: string;
let engines: InferenceEngines;

beforeAll(async () => {
  engines = {
    tfjs: await startTfjsBackend({ preferred: 'wasm', logger: { info: () => {}, warn: () => {} } }),
    onnx: null,
  };
  folder = await mkdtemp(path.join(tmpdir(), 'inferq-saved-'));
  await mkdir(path.join(folder, 'variables'));
  await writeFile(path.join(folder, 'saved_model.pb'), 'graph');
  await writeFile(path.join(folder, 'variables', 'variables.index'), 'index');
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('a SavedModel on a backend without libtensorflow', () => {
  it('is refused with MODEL_NOT_READY format-unsupported, not a crash', async () => {
    const manifest = modelManifestSchema.parse({
      name: 'saved',
      version: '1',
      format: 'saved_model',
      input: { width: 2, height: 2, channels: 1, resize: 'fill', scale: { mode: 'divide', divisor: 255 } },
      output: { kind: 'raw' },
      sha256: await computeModelHash(folder, 'saved_model'),
      createdAt: new Date().toISOString(),
    });
    await expect(loadModel(folder, manifest, { engines })).rejects.toMatchObject({
      code: 'MODEL_NOT_READY',
      details: { reason: 'format-unsupported' },
    });
  });
});
