import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryView } from '@inferq/core';
import { HistoryTable, summarizeHistory } from './HistoryPanel.tsx';

afterEach(cleanup);

const point = (
  model: string,
  minute: number,
  fields: Partial<HistoryView['points'][number]>,
): HistoryView['points'][number] => ({
  model,
  at: new Date(Date.UTC(2026, 11, 6, 9, minute)).toISOString(),
  submitted: 0,
  succeeded: 0,
  failed: 0,
  queueWaitP50Ms: null,
  queueWaitP95Ms: null,
  oldestWaitingMs: null,
  workers: null,
  ...fields,
});

const view: HistoryView = {
  range: 'hour',
  from: new Date(Date.UTC(2026, 11, 6, 9, 0)).toISOString(),
  to: new Date(Date.UTC(2026, 11, 6, 10, 0)).toISOString(),
  bucketSeconds: 60,
  points: [
    point('nsfw', 0, {
      submitted: 10,
      succeeded: 9,
      failed: 1,
      queueWaitP95Ms: 200,
      oldestWaitingMs: 1000,
      workers: 2,
    }),
    point('nsfw', 5, { submitted: 4, succeeded: 4, queueWaitP95Ms: 90_000, oldestWaitingMs: 120_000, workers: 0 }),
    point('mnist', 59, { submitted: 1, succeeded: 1, workers: 1 }),
  ],
};

describe('summarizeHistory', () => {
  it('sums counts, keeps the worst wait and the fewest workers, and places submits in their bucket', () => {
    const [mnist, nsfw] = summarizeHistory(view);
    expect(nsfw).toMatchObject({
      model: 'nsfw',
      submitted: 14,
      succeeded: 13,
      failed: 1,
      worstWaitP95Ms: 90_000,
      oldestWaitingMs: 120_000,
      fewestWorkers: 0,
    });
    expect(nsfw!.submittedByBucket).toHaveLength(60);
    expect([nsfw!.submittedByBucket[0], nsfw!.submittedByBucket[5]]).toEqual([10, 4]);
    expect(mnist!.submittedByBucket[59]).toBe(1);
  });
});

describe('HistoryTable', () => {
  it('shows a row per model, a gap in workers marked', () => {
    render(<HistoryTable view={view} />);
    const row = screen.getByTestId('history-table').querySelector('tr[data-model="nsfw"]')!;
    expect(row.textContent).toContain('1.5 min');
    expect(row.querySelector('.warn-text')?.textContent).toBe('0');
  });

  it('says so when the range is empty', () => {
    render(<HistoryTable view={{ ...view, points: [] }} />);
    expect(screen.getByText('No history in this range')).toBeTruthy();
  });
});
