import { describe, expect, it } from 'vitest';
import { topScore } from './JobsTable.tsx';

describe('topScore', () => {
  it.each([
    [
      'the best decoded label, whatever its place in the list',
      {
        output: [[0.1, 0.9]],
        top: [
          { label: 'cat', score: 0.1 },
          { label: 'dog', score: 0.9 },
        ],
        outputs: null,
        reading: null,
      },
      { label: 'dog', score: 0.9 },
    ],
    [
      'the index of the largest raw score when there are no labels',
      { output: [[0.2, 0.05, 0.75]], top: null, outputs: null, reading: null },
      { label: '#2', score: 0.75 },
    ],
    [
      'the raw scores when the label list is empty',
      { output: [[0.6, 0.4]], top: [], outputs: null, reading: null },
      { label: '#0', score: 0.6 },
    ],
    ['nothing for an empty output', { output: [[]], top: null, outputs: null, reading: null }, null],
    ['nothing without a result', null, null],
  ])('%s', (_case, result, expected) => {
    expect(topScore(result)).toEqual(expected);
  });
});
