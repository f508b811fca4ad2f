import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobView } from '@inferq/core';
import { previewValues, TensorResult } from './TensorResult.tsx';

afterEach(cleanup);

type Result = NonNullable<JobView['result']>;

const outputs: Result['outputs'] = [
  { name: 'boxes', datatype: 'FP32', shape: [1, 2, 4], data: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] },
  { name: 'flags', datatype: 'BOOL', shape: [1, 2], data: [true, false] },
];

describe('TensorResult', () => {
  it('shows each output tensor with its datatype, shape and first values', () => {
    render(<TensorResult result={{ output: [[], []], top: null, outputs, reading: { kind: 'raw' } }} />);
    const table = screen.getByTestId('tensor-outputs');
    expect(table.textContent).toContain('boxes');
    expect(table.textContent).toContain('[1, 2, 4]');
    expect(table.textContent).toContain('true, false');
    expect(screen.queryByTestId('reading-classification')).toBeNull();
  });

  it('shows a classification reading as labels and a detection reading as a table', () => {
    const { unmount } = render(
      <TensorResult
        result={{
          output: [],
          top: null,
          outputs: [],
          reading: { kind: 'classification', top: [[{ label: 'positive', score: 0.9, index: 1 }]] },
        }}
      />,
    );
    expect(screen.getByTestId('reading-classification').textContent).toContain('positive');
    unmount();
    render(
      <TensorResult
        result={{
          output: [],
          top: null,
          outputs: [],
          reading: { kind: 'detection', detections: [[{ box: [1, 2, 3, 4], score: 0.8, class: 0, label: 'cat' }]] },
        }}
      />,
    );
    expect(screen.getByTestId('reading-detection').textContent).toContain('cat');
  });

  it.each([
    [[1, 2, 3], 8, '1, 2, 3'],
    [[0.123456, true], 8, '0.1235, true'],
    [Array.from({ length: 10 }, (_, i) => i), 3, '0, 1, 2, … (10)'],
  ])('previews %j', (data, max, expected) => {
    expect(previewValues(data, max)).toBe(expected);
  });
});
