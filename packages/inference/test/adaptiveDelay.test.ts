import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { adaptiveDelayMs, Batcher, type AdaptiveDelayInput } from '../src/batcher.ts';

const base: AdaptiveDelayInput = {
  maxBatchSize: 8,
  maxDelayMs: 10,
  latencyBudgetMs: 100,
  queued: 1,
  waitedMs: 0,
  arrivalGapMs: 1,
  lastRunMs: 0,
};

describe('adaptiveDelayMs', () => {
  it.each<[string, Partial<AdaptiveDelayInput>, number]>([
    ['arrival rate not known yet: no wait', { arrivalGapMs: null }, 0],
    ['slower than one per delay: no wait', { arrivalGapMs: 12 }, 0],
    ['fast arrivals: the time the rate needs to fill the batch', { arrivalGapMs: 1, queued: 1 }, 7],
    ['fast arrivals, nearly full: less', { arrivalGapMs: 1, queued: 6 }, 2],
    ['filling takes longer than the delay: the delay left', { arrivalGapMs: 2, queued: 1, waitedMs: 4 }, 6],
    ['the oldest already waited the delay: no more', { waitedMs: 10 }, 0],
    ['a tight budget after a slow run lowers the limit', { latencyBudgetMs: 14, lastRunMs: 10, arrivalGapMs: 1 }, 4],
    ['a run that takes the whole budget: no wait', { latencyBudgetMs: 50, lastRunMs: 60 }, 0],
    ['arrivals slower than the budget left: no wait', { latencyBudgetMs: 14, lastRunMs: 10, arrivalGapMs: 5 }, 0],
  ])('%s', (_name, change, expected) => {
    expect(adaptiveDelayMs({ ...base, ...change })).toBe(expected);
  });
});

describe('Batcher with a latency budget', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function recording(latencyBudgetMs?: number) {
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>({
      maxBatchSize: 4,
      maxDelayMs: 50,
      ...(latencyBudgetMs !== undefined ? { latencyBudgetMs } : {}),
      run: async (items) => {
        sizes.push(items.length);
        return items;
      },
    });
    return { batcher, sizes };
  }

  it('does not wait for company when items arrive slower than one per delay', async () => {
    const { batcher, sizes } = recording(1000);
    for (let i = 0; i < 3; i++) {
      const result = batcher.submit(i);
      // Only the same-tick gathering (an immediate), no 50 ms timer: the item runs at once.
      await vi.advanceTimersByTimeAsync(0);
      expect(sizes).toHaveLength(i + 1);
      await expect(result).resolves.toBe(i);
      await vi.advanceTimersByTimeAsync(200);
    }
    expect(sizes).toEqual([1, 1, 1]);
  });

  it('without a budget, waits the whole delay as before', async () => {
    const { batcher, sizes } = recording();
    for (let i = 0; i < 2; i++) {
      void batcher.submit(i);
      await vi.advanceTimersByTimeAsync(0);
      expect(sizes).toHaveLength(i);
      await vi.advanceTimersByTimeAsync(50);
      expect(sizes).toHaveLength(i + 1);
      await vi.advanceTimersByTimeAsync(200);
    }
  });

  it('waits for a fuller batch when items arrive fast, and runs it once full', async () => {
    const { batcher, sizes } = recording(1000);
    // A fast rate observed first: items 2 ms apart.
    for (let i = 0; i < 4; i++) {
      void batcher.submit(i);
      await vi.advanceTimersByTimeAsync(2);
    }
    expect(sizes).toEqual([1, 3]);
    expect(batcher.stats.queued).toBe(0);
    await batcher.close();
  });
});
