import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { QueueSnapshot } from '@inferq/core';
import { QueuePanel } from './QueuePanel.tsx';

afterEach(cleanup);

const snapshot: QueueSnapshot = {
  queue: 'inferq:inference',
  counts: { waiting: 0, prioritized: 12, active: 2, delayed: 1, completed: 40, failed: 3 },
  inSystem: 15,
  cap: 1000,
  paused: false,
  workers: [],
  at: '2026-01-01T00:00:00.000Z',
};

describe('QueuePanel', () => {
  it('labels the queue states as an operator reads them, BullMQ names only in tooltips', () => {
    render(<QueuePanel snapshot={snapshot} />);
    const labels = [...document.querySelectorAll('.count-label')].map((label) => label.textContent);
    expect(labels).toEqual([
      'waiting (in order)',
      'waiting (by priority)',
      'taken by workers',
      'retrying later',
      'done',
      'failed for good',
    ]);
    expect(screen.getByTestId('count-prioritized').textContent).toBe('12');
    expect(document.querySelector('[data-state="prioritized"]')?.getAttribute('title')).toBe(
      'BullMQ state: prioritized',
    );
    // No BullMQ word in the visible text.
    expect(screen.getByTestId('queue-panel').textContent).not.toMatch(/prioritized/i);
  });
});
