import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelsView } from '@inferq/core';
import { ModelsPanel, swapSummary } from './ModelsPanel.tsx';

afterEach(cleanup);

type ModelView = ModelsView['models'][number];

function version(v: string, live: boolean, workersReady: number): ModelView['versions'][number] {
  return {
    version: v,
    live,
    format: 'layers',
    tensors: null,
    sha256: '0'.repeat(64),
    createdAt: '2026-01-01T00:00:00.000Z',
    source: null,
    input: { width: 224, height: 224, channels: 3 },
    labels: ['Drawing', 'Neutral'],
    metrics: null,
    limits: null,
    workersReady,
    engines: workersReady > 0 ? ['onnxruntime-cpu'] : [],
    modelUrl: null,
  };
}

function model(swap: ModelView['swap']): ModelView {
  return {
    name: 'nsfw',
    liveVersion: '4.5.0',
    remote: false,
    versions: [version('4.4.0', false, 2), version('4.5.0', true, 1)],
    workers: 3,
    swap,
    problems: [],
    loadFailures: [],
  };
}

describe('swapSummary', () => {
  it.each([
    [null, null],
    [
      { to: '4.5.0', switched: 1, loading: 2, failures: [] },
      { text: 'swap to 4.5.0: 1 of 3 switched, 2 loading', failed: false },
    ],
    [
      {
        to: '4.5.0',
        switched: 2,
        loading: 0,
        failures: [
          { workerId: 'w3', version: '4.5.0', code: 'MODEL_NOT_READY', reason: 'hash-mismatch', message: 'bad' },
        ],
      },
      { text: 'swap to 4.5.0: 2 of 3 switched, 1 failed', failed: true },
    ],
  ] as Array<[ModelView['swap'], ReturnType<typeof swapSummary>]>)('%j → %j', (swap, expected) => {
    expect(swapSummary(model(swap))).toEqual(expected);
  });
});

describe('ModelsPanel', () => {
  it('shows the live version, readiness per version, a swap under way and why a worker failed it', () => {
    render(
      <ModelsPanel
        view={{
          models: [
            model({
              to: '4.5.0',
              switched: 1,
              loading: 1,
              failures: [
                { workerId: 'w3', version: '4.5.0', code: 'MODEL_NOT_READY', reason: null, message: 'weights missing' },
              ],
            }),
          ],
          workers: [],
        }}
      />,
    );
    expect(screen.getByText('live 4.5.0')).toBeTruthy();
    expect(screen.getByTestId('model-swap').textContent).toBe('swap to 4.5.0: 1 of 3 switched, 1 loading, 1 failed');
    expect(screen.getByText('ready on 2')).toBeTruthy();
    expect(screen.getByText(/w3 could not load 4.5.0: weights missing/)).toBeTruthy();
  });

  it('warns, not in green, when no live worker serves a model: its jobs wait', () => {
    render(
      <ModelsPanel
        view={{
          models: [
            { ...model(null), workers: 0 },
            { ...model(null), name: 'mnist', workers: 2 },
          ],
          workers: [],
        }}
      />,
    );
    expect(screen.getAllByTestId('no-workers').map((pill) => pill.textContent)).toEqual(['0 workers']);
    expect(screen.getByTestId('no-workers').className).toContain('pill-warn');
    expect(screen.getByText('2 workers')).toBeTruthy();
  });
});
