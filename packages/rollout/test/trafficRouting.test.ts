import { describe, expect, it } from 'vitest';
import type { ModelComparison } from '@inferq/core';
import { brokenRule } from '../src/rollbackJudge.ts';
import { pickVersion, stickyPoint } from '../src/trafficRouting.ts';

const split = {
  baseline: 'a',
  split: [
    { version: 'a', weight: 70 },
    { version: 'b', weight: 30 },
  ],
};

describe('pickVersion', () => {
  it.each([
    [0, 'a'],
    [0.69, 'a'],
    [0.7, 'b'],
    [0.999, 'b'],
  ])('sends point %f to %s', (point, version) => {
    expect(pickVersion(split, point)).toBe(version);
  });

  it('gives the share of a version no worker has loaded to the baseline', () => {
    expect(pickVersion(split, 0.9, (version) => version !== 'b')).toBe('a');
  });

  it('sends everything to the baseline when every weight is zero', () => {
    expect(pickVersion({ baseline: 'a', split: [{ version: 'b', weight: 0 }] }, 0.5)).toBe('a');
  });

  it('splits evenly spread points by the weights', () => {
    const counts = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 1000; i++) counts[pickVersion(split, i / 1000)]!++;
    expect(counts).toEqual({ a: 700, b: 300 });
  });
});

describe('stickyPoint', () => {
  it('is the same for one user and model, and differs between users', () => {
    expect(stickyPoint('mnist', 'u1')).toBe(stickyPoint('mnist', 'u1'));
    const points = new Set(Array.from({ length: 100 }, (_, i) => stickyPoint('mnist', `user-${i}`)));
    expect(points.size).toBe(100);
    for (const point of points) expect(point >= 0 && point < 1).toBe(true);
  });

  it('spreads users over the split like the weights', () => {
    let b = 0;
    for (let i = 0; i < 10_000; i++) if (pickVersion(split, stickyPoint('mnist', `user-${i}`)) === 'b') b++;
    expect(b / 10_000).toBeGreaterThan(0.28);
    expect(b / 10_000).toBeLessThan(0.32);
  });
});

function comparison(
  candidate: Partial<ModelComparison['candidate']>,
  shadow: Partial<ModelComparison['shadow']> = {},
): ModelComparison {
  const figures = { version: 'x', jobs: 0, shadowRuns: 0, failed: 0, errorRate: null, p50Ms: null, p95Ms: null };
  return {
    model: 'm',
    since: new Date(0).toISOString(),
    baseline: { ...figures, version: 'a' },
    candidate: { ...figures, version: 'b', ...candidate },
    shadow: { pairs: 0, agreement: null, meanAbsScoreDiff: null, maxAbsScoreDiff: null, ...shadow },
  };
}

describe('brokenRule', () => {
  it.each([
    [
      'an error rate above the limit',
      { maxErrorRate: 0.02, minJobs: 100 },
      comparison({ jobs: 200, failed: 10, errorRate: 0.05 }),
      'maxErrorRate',
    ],
    [
      'a p95 above the limit',
      { maxP95Ms: 500, minJobs: 100 },
      comparison({ shadowRuns: 150, errorRate: 0, p95Ms: 800 }),
      'maxP95Ms',
    ],
    [
      'agreement below the limit',
      { minAgreement: 0.95, minJobs: 100 },
      comparison({}, { pairs: 120, agreement: 0.9 }),
      'minAgreement',
    ],
    [
      'too few jobs to judge',
      { maxErrorRate: 0.02, minJobs: 100 },
      comparison({ jobs: 99, failed: 99, errorRate: 1 }),
      null,
    ],
    [
      'too few pairs to judge',
      { minAgreement: 0.95, minJobs: 100 },
      comparison({ jobs: 500, errorRate: 0 }, { pairs: 50, agreement: 0 }),
      null,
    ],
    [
      'every rule kept',
      { maxErrorRate: 0.02, minAgreement: 0.95, maxP95Ms: 500, minJobs: 10 },
      comparison({ jobs: 50, errorRate: 0.01, p95Ms: 100 }, { pairs: 50, agreement: 0.99 }),
      null,
    ],
  ])('judges %s', (_case, rules, figures, rule) => {
    expect(brokenRule(rules, figures)?.rule ?? null).toBe(rule);
  });
});
