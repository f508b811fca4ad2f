import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerHeartbeat } from '@inferq/core';
import { WorkersPanel, workerEngines } from './WorkersPanel.tsx';

afterEach(cleanup);

function worker(models: WorkerHeartbeat['models'], backend = 'wasm'): WorkerHeartbeat {
  return {
    workerId: 'w-1',
    host: 'h',
    pid: 1,
    backend,
    queue: 'inference',
    models,
    currentBatch: 0,
    activeJobs: 0,
    jobsSucceeded: 3,
    jobsFailed: 0,
    startedAt: '2026-01-01T00:00:00.000Z',
    heartbeatAt: new Date().toISOString(),
  } as WorkerHeartbeat;
}

describe('workerEngines', () => {
  it.each([
    [[{ name: 'nsfw', version: '4.4.0', engine: 'onnxruntime-cpu' }], ['onnxruntime-cpu']],
    [
      [
        { name: 'nsfw', version: '4.4.0', engine: 'onnxruntime-cpu' },
        { name: 'mnist', version: '1.0.0', engine: 'tfjs-wasm' },
      ],
      ['onnxruntime-cpu', 'tfjs-wasm'],
    ],
    // A heartbeat from before engines were announced: the TF.js backend, named as the engine it is.
    [[{ name: 'mnist', version: '1.0.0' }], ['tfjs-wasm']],
  ] as Array<[WorkerHeartbeat['models'], string[]]>)('%j → %j', (models, expected) => {
    expect(workerEngines(worker(models))).toEqual(expected);
  });
});

describe('WorkersPanel', () => {
  it('shows the engine of each model, not the TF.js backend alone', () => {
    render(<WorkersPanel workers={[worker([{ name: 'nsfw', version: '4.4.0', engine: 'onnxruntime-cpu' }])]} />);
    expect(screen.getByTestId('worker-engines').textContent).toBe('onnxruntime-cpu');
    expect(screen.getByText(/nsfw@4\.4\.0/).textContent).toContain('onnxruntime-cpu');
    expect(screen.queryByText('wasm')).toBeNull();
  });
});
