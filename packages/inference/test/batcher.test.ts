import { describe, expect, it } from 'vitest';
import { Batcher, BatcherClosedError, type BatcherOptions } from '../src/index.ts';

/** A promise the test settles by hand. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A run function that doubles numbers and records each batch it saw. */
function recordingRun(calls: number[][], gate?: () => Promise<void>): BatcherOptions<number, number>['run'] {
  return async (items) => {
    calls.push([...items]);
    if (gate) await gate();
    return items.map((n) => n * 2);
  };
}

describe('Batcher', () => {
  it('runs a full batch at once, without waiting for the delay', { timeout: 2000 }, async () => {
    const calls: number[][] = [];
    const batcher = new Batcher({ maxBatchSize: 4, maxDelayMs: 60_000, run: recordingRun(calls) });
    const outputs = await Promise.all([1, 2, 3, 4].map((n) => batcher.submit(n)));
    expect(outputs).toEqual([2, 4, 6, 8]);
    expect(calls).toEqual([[1, 2, 3, 4]]);
  });

  it('runs a partial batch once the oldest item has waited maxDelayMs', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher({ maxBatchSize: 100, maxDelayMs: 30, run: recordingRun(calls) });
    const pending = [1, 2, 3].map((n) => batcher.submit(n));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(calls).toEqual([]);
    expect(batcher.stats.queued).toBe(3);
    expect(await Promise.all(pending)).toEqual([2, 4, 6]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('splits a burst larger than maxBatchSize and queues arrivals behind the running batch', async () => {
    const calls: number[][] = [];
    const gate = deferred();
    const batcher = new Batcher({ maxBatchSize: 3, maxDelayMs: 0, run: recordingRun(calls, () => gate.promise) });
    const first = [1, 2, 3, 4, 5].map((n) => batcher.submit(n));
    await Promise.resolve();
    // One batch runs at a time: the next waits until the first finishes.
    expect(calls).toEqual([[1, 2, 3]]);
    const later = [6, 7].map((n) => batcher.submit(n));
    gate.resolve();
    expect(await Promise.all([...first, ...later])).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(calls).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(batcher.stats).toMatchObject({
      batches: 3,
      items: 7,
      sizes: { 3: 2, 1: 1 },
      succeeded: 7,
      failed: 0,
      queued: 0,
      running: false,
    });
  });

  it('rejects only the item whose result is an Error', async () => {
    const batcher = new Batcher<number, number>({
      maxBatchSize: 3,
      maxDelayMs: 0,
      run: async (items) => items.map((n) => (n === 2 ? new RangeError(`bad ${n}`) : n * 2)),
    });
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError);
    expect(batcher.stats).toMatchObject({ batches: 1, succeeded: 2, failed: 1, splitBatches: 0 });
  });

  it('retries each item alone when run throws for the batch, so a poison item fails only itself', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher<number, number>({
      maxBatchSize: 3,
      maxDelayMs: 0,
      run: async (items) => {
        calls.push([...items]);
        if (items.includes(13)) throw new Error('poison');
        return items.map((n) => n * 2);
      },
    });
    const results = await Promise.allSettled([1, 13, 3].map((n) => batcher.submit(n)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      2,
      'poison',
      6,
    ]);
    expect(calls).toEqual([[1, 13, 3], [1], [13], [3]]);
    expect(batcher.stats).toMatchObject({ batches: 1, items: 3, splitBatches: 1, succeeded: 2, failed: 1 });
  });

  it('treats a result array of the wrong length as a failed batch', async () => {
    const batcher = new Batcher<number, number>({
      maxBatchSize: 2,
      maxDelayMs: 0,
      run: async (items) => (items.length > 1 ? [1] : [items[0] as number]),
    });
    expect(await Promise.all([batcher.submit(5), batcher.submit(6)])).toEqual([5, 6]);
    expect(batcher.stats.splitBatches).toBe(1);
  });

  it('wraps a non-Error throw in an Error', async () => {
    const batcher = new Batcher<number, number>({
      maxBatchSize: 1,
      maxDelayMs: 0,
      run: async () => {
        throw 'plain string';
      },
    });
    const error = await batcher.submit(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('plain string');
  });

  it('close runs what is queued, then refuses new items', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher({ maxBatchSize: 10, maxDelayMs: 60_000, run: recordingRun(calls) });
    const pending = [1, 2].map((n) => batcher.submit(n));
    await batcher.close();
    expect(await Promise.all(pending)).toEqual([2, 4]);
    expect(calls).toEqual([[1, 2]]);
    await expect(batcher.submit(3)).rejects.toBeInstanceOf(BatcherClosedError);
  });

  it.each([
    [{ maxBatchSize: 0, maxDelayMs: 5 }],
    [{ maxBatchSize: 1.5, maxDelayMs: 5 }],
    [{ maxBatchSize: 4, maxDelayMs: -1 }],
    [{ maxBatchSize: 4, maxDelayMs: Number.NaN }],
  ])('refuses options %o', (options) => {
    expect(() => new Batcher({ ...options, run: async () => [] })).toThrow(RangeError);
  });
});
