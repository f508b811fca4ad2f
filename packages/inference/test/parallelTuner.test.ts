import { describe, expect, it } from 'vitest';
import { chooseParallel, parallelLayouts, type ParallelPoint } from '../src/parallelTuner.ts';

describe('parallelLayouts', () => {
  it.each([
    [1, ['1x1']],
    [2, ['1x1', '2x1', '1x2']],
    [4, ['1x1', '2x1', '1x2', '2x2']],
  ])('keeps threads × processes within %i cores, fewest cores first', (cores, expected) => {
    expect(parallelLayouts([1, 2], [1, 2], cores).map(({ threads, processes }) => `${threads}x${processes}`)).toEqual(
      expected,
    );
  });
});

describe('chooseParallel', () => {
  const point = (threads: number, processes: number, imagesPerSecond: number, p99Ms: number): ParallelPoint => ({
    threads,
    processes,
    imagesPerSecond,
    p99Ms,
  });

  it('picks the best rate within the budget', () => {
    expect(chooseParallel([point(1, 1, 100, 20), point(1, 2, 180, 25), point(2, 1, 130, 22)], 50)).toEqual(
      point(1, 2, 180, 25),
    );
  });

  it('leaves out layouts past the budget, however fast', () => {
    expect(chooseParallel([point(1, 1, 100, 20), point(1, 2, 180, 80)], 50)).toEqual(point(1, 1, 100, 20));
  });

  it('prefers fewer cores among rates within 3% of the best', () => {
    expect(chooseParallel([point(1, 1, 99, 30), point(2, 1, 101, 20), point(1, 2, 100, 25)], 50)).toEqual(
      point(1, 1, 99, 30),
    );
  });

  it('answers null when no layout keeps the budget', () => {
    expect(chooseParallel([point(1, 1, 100, 60)], 50)).toBeNull();
  });
});
