import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelComparison } from '@inferq/core';
import { candidatesOf, RolloutView, type Rollout } from './RolloutPanel.tsx';

afterEach(cleanup);

const rollout: Rollout['traffic'] = {
  model: 'nsfw',
  liveVersion: '4.4.0',
  traffic: {
    split: [
      { version: '4.4.0', weight: 95, share: 0.95, workersReady: 2 },
      { version: '4.5.0', weight: 5, share: 0.05, workersReady: 0 },
    ],
    sticky: 'user',
    shadow: { version: '4.6.0', workersReady: 1 },
    rules: { minAgreement: 0.95 },
    baseline: '4.4.0',
    since: '2026-01-01T00:00:00.000Z',
  },
  rollbacks: [],
};

const figures = (version: string, jobs: number) => ({
  version,
  jobs,
  shadowRuns: 0,
  failed: 0,
  errorRate: 0,
  p50Ms: 12.5,
  p95Ms: 30,
});
const comparison: ModelComparison = {
  model: 'nsfw',
  since: '2026-01-01T00:00:00.000Z',
  baseline: figures('4.4.0', 190),
  candidate: { ...figures('4.6.0', 0), shadowRuns: 190, failed: 2, errorRate: 2 / 190 },
  shadow: { pairs: 188, agreement: 0.984, meanAbsScoreDiff: 0.01, maxAbsScoreDiff: 0.2 },
};

describe('RolloutView', () => {
  it('names every candidate once, the baseline never', () => {
    expect(candidatesOf(rollout.traffic)).toEqual(['4.5.0', '4.6.0']);
  });

  it('shows the shares, which versions are still warming, the shadow and its agreement', () => {
    render(<RolloutView rollouts={[{ traffic: rollout, comparisons: [comparison] }]} rollbacks={[]} />);
    const panel = screen.getByTestId('rollout-nsfw');
    expect(within(panel).getByText('95.0% of traffic')).toBeTruthy();
    expect(within(panel).getByText(/warming: its share goes to the baseline/)).toBeTruthy();
    expect(within(panel).getByText('shadow 4.6.0')).toBeTruthy();
    expect(
      within(screen.getByTestId('comparison-nsfw-4.6.0')).getByText(/188 shadowed pairs, agreement 98\.4%/),
    ).toBeTruthy();
  });

  it('lists the automatic rollbacks with their reason', () => {
    render(
      <RolloutView
        rollouts={[]}
        rollbacks={[
          {
            id: 'r1',
            model: 'nsfw',
            baseline: '4.4.0',
            candidate: '4.6.0',
            rule: 'minAgreement',
            reason: 'top-1 agreement 0.5 over 200 shadowed pairs is below minAgreement 0.95',
            at: '2026-01-01T00:00:00.000Z',
          },
        ]}
      />,
    );
    expect(within(screen.getByTestId('rollbacks')).getByText(/minAgreement: top-1 agreement 0\.5/)).toBeTruthy();
    expect(screen.getByText('No traffic split')).toBeTruthy();
  });
});
