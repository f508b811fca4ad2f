import { describe, expect, it } from 'vitest';
import type { ModelList } from '@inferq/client';
import { modelsTable } from '../src/runCli.ts';

/** GET /v1/models as the API answers it while a worker cannot load imagenet@1.0.0 (MODEL_NOT_READY load-failed). */
const list: ModelList = {
  models: [
    {
      name: 'imagenet',
      liveVersion: '1.0.0',
      remote: false,
      versions: [
        {
          version: '1.0.0',
          live: true,
          format: 'onnx',
          tensors: null,
          sha256: 'a'.repeat(64),
          createdAt: '2026-01-01T00:00:00.000Z',
          source: null,
          input: { width: 224, height: 224, channels: 3 },
          labels: ['tench', 'goldfish'],
          metrics: null,
          limits: null,
          workersReady: 0,
          engines: [],
          modelUrl: null,
        },
      ],
      workers: 0,
      swap: null,
      problems: [],
      loadFailures: [
        {
          workerId: 'w-1',
          version: '1.0.0',
          code: 'MODEL_NOT_READY',
          reason: 'load-failed',
          message: 'onnxruntime could not load model.onnx',
        },
      ],
    },
  ],
  workers: [],
};

describe('inferq models', () => {
  it('puts the load failure the API reports in the problem column, one row per worker', () => {
    const rows = modelsTable(list)
      .split('\n')
      .filter((line) => line.includes('imagenet'));
    expect(rows[0]).toMatch(/│ imagenet +│ 1\.0\.0 +│ live +│ onnx +│ 224x224x3 +│ 2 +│ 0\/0 +│/);
    expect(rows[1]).toMatch(
      /│ imagenet +│ 1\.0\.0 +│ .*│ load failed on w-1: load-failed: onnxruntime could not load model\.onnx/,
    );
  });

  it('gives a failed version that is not in the list a row of its own', () => {
    const failures = [
      {
        workerId: 'w-1',
        version: '2.0.0',
        code: 'MODEL_NOT_READY',
        reason: 'hash-mismatch',
        message: 'model.onnx hashes to …',
      },
    ];
    const text = modelsTable({ ...list, models: [{ ...list.models[0]!, loadFailures: failures }] });
    expect(text).toMatch(
      /│ imagenet +│ 2\.0\.0 +│ +│ +│ +│ +│ +│ +│ load failed on w-1: hash-mismatch: model\.onnx hashes to …/,
    );
  });
});

describe('inferq models engines', () => {
  it("names each version's engines and each worker's, not the worker's TF.js backend", () => {
    const versions = [{ ...list.models[0]!.versions[0]!, workersReady: 1, engines: ['onnxruntime-cpu'] }];
    const workers = [
      {
        workerId: 'w-1',
        host: 'h',
        backend: 'wasm',
        onnxRuntime: { provider: 'cpu', skipped: [] },
        models: [{ name: 'imagenet', version: '1.0.0', engine: 'onnxruntime-cpu', loaded: ['1.0.0'] }],
      },
    ];
    const text = modelsTable({ models: [{ ...list.models[0]!, versions, loadFailures: [], workers: 1 }], workers });
    expect(text).toMatch(/│ 1\/1 +│ onnxruntime-cpu +│/);
    expect(text).toContain('workers: w-1 (onnxruntime-cpu)');
    expect(text).not.toContain('(wasm)');
  });
});
