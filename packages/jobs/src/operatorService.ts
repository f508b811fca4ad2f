import {
  AppError,
  historyRanges,
  queueStates,
  queueUnavailable,
  type HistoryRange,
  type HistoryView,
  type QueueSnapshot,
  type StatsSeries,
} from '@inferq/core';
import type { JobStats, JobStatsSeries, ModelHistoryStore } from '@inferq/db';
import type { InferenceQueue, WorkerRegistry } from '@inferq/queue';

export interface OperatorServiceOptions {
  stats: JobStats;
  queue: InferenceQueue;
  workers: WorkerRegistry;
  /** The queue's global cap (jobs waiting + running), shown to operators. @defaultValue null (none) */
  queueCap?: number | null | undefined;
  /** How long a computed stats series is reused. @defaultValue 5000 */
  statsCacheMs?: number;
  /** The per-model history the reconciler writes. @defaultValue none: history answers empty */
  history?: ModelHistoryStore | undefined;
}

export interface StatsWindow {
  windowSeconds: number;
  bucketSeconds: number;
}

export function toStatsView(series: JobStatsSeries): StatsSeries {
  return {
    from: series.from.toISOString(),
    to: series.to.toISOString(),
    bucketSeconds: series.bucketSeconds,
    buckets: series.buckets.map((bucket) => ({ ...bucket, start: bucket.start.toISOString() })),
    totals: series.totals,
  };
}

/**
 * What operators see beyond the public job routes: the queue and its workers, throughput and
 * latency. (Their retry and cancel of any job are JobCommands'.) Knows nothing of HTTP.
 */
export class OperatorService {
  readonly #options: OperatorServiceOptions;
  readonly #statsCache = new Map<string, { at: number; value: Promise<StatsSeries> }>();

  constructor(options: OperatorServiceOptions) {
    this.#options = options;
  }

  async snapshot(): Promise<QueueSnapshot> {
    const { queue, workers, queueCap } = this.#options;
    if (!queue.isReady()) throw queueUnavailable();
    const [byModel, paused, live] = await Promise.all([queue.countsByModel(), queue.isPaused(), workers.list()]);
    const ours = live.filter((worker) => worker.queue === queue.name);
    const total = Object.fromEntries(queueStates.map((state) => [state, 0])) as QueueSnapshot['counts'];
    let inSystem = 0;
    const models: NonNullable<QueueSnapshot['models']> = [];
    for (const [model, counts] of Object.entries(byModel)) {
      for (const state of queueStates) total[state] += counts[state] ?? 0;
      const queued = counts.waiting + counts.prioritized + counts.delayed + counts.paused;
      inSystem += queued + counts.active;
      const serving = ours.filter((worker) => worker.models.some((served) => served.name === model));
      const jobs = ours.flatMap((worker) => worker.jobs ?? []).filter((entry) => entry.model === model);
      models.push({
        model,
        counts: Object.fromEntries(queueStates.map((state) => [state, counts[state] ?? 0])) as QueueSnapshot['counts'],
        workers: serving.length,
        held: jobs.reduce((sum, entry) => sum + entry.held, 0),
        running: jobs.reduce((sum, entry) => sum + entry.running, 0),
        waitingFor: queued > 0 && serving.length === 0 ? 'worker' : null,
      });
    }
    return {
      queue: queue.name,
      counts: total,
      inSystem,
      cap: queueCap ?? null,
      paused,
      models,
      workers: ours,
      at: new Date().toISOString(),
    };
  }

  /**
   * Throughput and latency over a window, from Postgres. Operators' pages ask every few seconds;
   * the answer is reused for `statsCacheMs`, and concurrent askers share one query.
   */
  async stats(window: StatsWindow): Promise<StatsSeries> {
    const ttl = this.#options.statsCacheMs ?? 5000;
    const key = `${window.windowSeconds}:${window.bucketSeconds}`;
    const cached = this.#statsCache.get(key);
    const now = Date.now();
    if (cached && now - cached.at < ttl) return cached.value;
    const value = this.#options.stats.series(window).then(toStatsView);
    this.#statsCache.set(key, { at: now, value });
    value.catch(() => this.#statsCache.delete(key));
    return value;
  }

  /**
   * The per-model history of the last hour, day or week (one model's with `model`), bucketed by
   * the range (historyRanges).
   *
   * @throws AppError VALIDATION_FAILED for another range
   */
  async history(range: string, model?: string | undefined, now = new Date()): Promise<HistoryView> {
    if (!Object.hasOwn(historyRanges, range)) {
      throw new AppError('VALIDATION_FAILED', `range is one of ${Object.keys(historyRanges).join(', ')}.`, {
        details: { field: 'range' },
      });
    }
    const { minutes, bucketMinutes } = historyRanges[range as HistoryRange];
    const bucketMs = bucketMinutes * 60_000;
    const to = new Date(Math.ceil(now.getTime() / bucketMs) * bucketMs);
    const from = new Date(to.getTime() - minutes * 60_000);
    const points = (await this.#options.history?.read({ from, to, bucketMinutes, model: model || undefined })) ?? [];
    return {
      range: range as HistoryRange,
      from: from.toISOString(),
      to: to.toISOString(),
      bucketSeconds: bucketMinutes * 60,
      points: points.map((point) => ({ ...point, at: point.at.toISOString() })),
    };
  }
}
