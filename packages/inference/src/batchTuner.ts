import { Batcher } from './batcher.ts';
import type { ServedModel } from './servedModel.ts';

/** One batch setting, measured. */
export interface BatchPoint {
  maxBatchSize: number;
  maxDelayMs: number;
  imagesPerSecond: number;
  /** From submit to result, including the wait for the batch ahead. */
  p50Ms: number;
  p99Ms: number;
  meanBatch: number;
}

export interface MeasureBatchingOptions {
  /** How long the point runs (at least two full batches). @defaultValue 1500 */
  durationMs?: number;
  /** Clients in the closed loop. @defaultValue 2 × maxBatchSize (the worker's default concurrency) */
  clients?: number;
}

/**
 * Runs `model` behind a Batcher with `maxBatchSize` and `maxDelayMs`, driven by clients in a
 * closed loop (each submits again as soon as its result comes), as a worker's queue does under a
 * full backlog: images/s and per-image latency. The model only: no HTTP, queue or database.
 */
export async function measureBatching(
  model: ServedModel,
  setting: { maxBatchSize: number; maxDelayMs: number },
  options: MeasureBatchingOptions = {},
): Promise<BatchPoint> {
  const input = new Float32Array(model.inputSize).fill(0.5);
  await model.warmUp([setting.maxBatchSize]); // the first call at a shape compiles and allocates
  const batcher = new Batcher<Float32Array, number[]>({ ...setting, run: (inputs) => model.predictBatch(inputs) });
  const latencies: number[] = [];
  const started = performance.now();
  const probe = performance.now();
  await batcher.submit(input);
  const perBatchMs = performance.now() - probe;
  const deadline = started + Math.max(options.durationMs ?? 1500, 2.2 * perBatchMs * setting.maxBatchSize);
  await Promise.all(
    Array.from({ length: options.clients ?? 2 * setting.maxBatchSize }, async () => {
      while (performance.now() < deadline) {
        const submitted = performance.now();
        await batcher.submit(input);
        latencies.push(performance.now() - submitted);
      }
    }),
  );
  const elapsed = performance.now() - started;
  const stats = batcher.stats;
  await batcher.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    ...setting,
    imagesPerSecond: (latencies.length / elapsed) * 1000,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    meanBatch: stats.items / stats.batches,
  };
}

export interface TuneBatchingOptions {
  /** The p99 latency (submit to result, in the batcher) a setting must keep to be chosen. */
  budgetMs: number;
  /** @defaultValue [1, 2, 4, 8, 16, 32, 64] */
  batchSizes?: number[];
  /** Delays tried at the best batch size. @defaultValue [0, 2, 5, 10] */
  delaysMs?: number[];
  /** Per point. @defaultValue 1500 */
  durationMs?: number;
  /**
   * Passes over the batch sizes, in turns; each size keeps its fastest pass, so a moment of
   * contention on a shared machine does not decide the pick. @defaultValue 2
   */
  passes?: number;
  /** Told of each point as it is measured. @defaultValue none */
  onPoint?: (point: BatchPoint) => void;
}

export interface TuneBatchingResult {
  /** The pick (see tuneBatching); null when no setting keeps the budget, not even batch 1. */
  best: BatchPoint | null;
  /** Every measurement, in order (a size appears once per pass). */
  points: BatchPoint[];
}

/**
 * A short calibration of `model`'s batch settings on the engine it is loaded on: batch sizes
 * (delay 2 ms) first, in `passes` turns, stopping once a size breaks the budget twice over; then
 * delays at the best size. The chosen setting is, among those whose p99 stays within `budgetMs` and whose rate is
 * within 3% of the best of them, the one with the lowest p99.
 */
export async function tuneBatching(model: ServedModel, options: TuneBatchingOptions): Promise<TuneBatchingResult> {
  const measured: BatchPoint[] = [];
  const kept = new Map<string, BatchPoint>();
  const measure = async (maxBatchSize: number, maxDelayMs: number) => {
    const point = await measureBatching(
      model,
      { maxBatchSize, maxDelayMs },
      { durationMs: options.durationMs ?? 1500 },
    );
    measured.push(point);
    options.onPoint?.(point);
    const key = `${maxBatchSize}/${maxDelayMs}`;
    const earlier = kept.get(key);
    if (!earlier || point.imagesPerSecond > earlier.imagesPerSecond) kept.set(key, point);
    return point;
  };
  let sizes = options.batchSizes ?? [1, 2, 4, 8, 16, 32, 64];
  for (let pass = 0; pass < (options.passes ?? 2); pass++) {
    const tried: number[] = [];
    for (const size of sizes) {
      const point = await measure(size, 2);
      tried.push(size);
      // Larger batches only wait longer: once a size is well past the budget, the rest are too.
      if (point.p99Ms > 2 * options.budgetMs) break;
    }
    sizes = tried;
  }
  const pick = () => choose([...kept.values()], options.budgetMs);
  const atSize = pick();
  if (atSize)
    for (const delay of options.delaysMs ?? [0, 2, 5, 10]) if (delay !== 2) await measure(atSize.maxBatchSize, delay);
  return { best: pick(), points: measured };
}

function choose(points: readonly BatchPoint[], budgetMs: number): BatchPoint | null {
  const within = points.filter((point) => point.p99Ms <= budgetMs);
  if (within.length === 0) return null;
  const top = Math.max(...within.map((point) => point.imagesPerSecond));
  // Past the knee the rate barely moves while the latency grows with the batch: among the
  // settings within 3% of the top rate (the noise of one short point), the lowest p99 wins.
  return (
    within
      .filter((point) => point.imagesPerSecond >= top * 0.97)
      .sort((a, b) => a.p99Ms - b.p99Ms || a.maxBatchSize - b.maxBatchSize)[0] ?? null
  );
}
