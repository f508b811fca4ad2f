import { AppError, isFinalStatus, queueStates, type QueueSnapshot, type StatsSeries } from '@inferq/core';
import type { JobRecord, JobStats, JobStatsSeries, JobStore } from '@inferq/db';
import type { InferenceQueue, JobEventPublisher, WorkerRegistry } from '@inferq/queue';

export interface OperatorServiceOptions {
  jobs: JobStore;
  stats: JobStats;
  queue: InferenceQueue;
  workers: WorkerRegistry;
  /** Announces retried (queued) and canceled jobs to live streams. */
  events?: JobEventPublisher | undefined;
  /** The queue's global cap (jobs waiting + running), shown to operators. @defaultValue null (none) */
  queueCap?: number | null | undefined;
  /** How long a computed stats series is reused. @defaultValue 5000 */
  statsCacheMs?: number;
}

export interface StatsWindow {
  windowSeconds: number;
  bucketSeconds: number;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
 * What operators see and do beyond the public job routes: the queue and its workers, throughput
 * and latency, retry and cancel of any job. Knows nothing of HTTP.
 */
export class OperatorService {
  readonly #options: OperatorServiceOptions;
  readonly #statsCache = new Map<string, { at: number; value: Promise<StatsSeries> }>();

  constructor(options: OperatorServiceOptions) {
    this.#options = options;
  }

  async snapshot(): Promise<QueueSnapshot> {
    const { queue, workers, queueCap } = this.#options;
    if (!queue.isReady()) throw new AppError('QUEUE_UNAVAILABLE', 'The job queue is unavailable.', { headers: { 'Retry-After': '5' } });
    const [counts, paused, live] = await Promise.all([queue.counts(), queue.queue.isPaused(), workers.list()]);
    return {
      queue: queue.name,
      counts: Object.fromEntries(queueStates.map((state) => [state, counts[state] ?? 0])) as QueueSnapshot['counts'],
      inSystem: counts.waiting + counts.prioritized + counts.active + counts.delayed + counts.paused,
      cap: queueCap ?? null,
      paused,
      workers: live.filter((worker) => worker.queue === queue.name),
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
   * Runs a failed job again under the same id: BullMQ's failed entry is removed, the row goes back
   * to `queued` with its error cleared, and the job is enqueued. If the enqueue fails the row is
   * failed again with its old error, so it never looks queued without being in the queue.
   */
  async retry(id: string): Promise<JobRecord> {
    const { jobs, queue, events } = this.#options;
    if (!uuidPattern.test(id)) throw new AppError('JOB_NOT_FOUND', 'No such job.');
    const row = await jobs.get(id);
    if (!row) throw new AppError('JOB_NOT_FOUND', 'No such job.');
    if (row.status !== 'failed') {
      throw new AppError('CONFLICT', 'Only a failed job can be retried.', { details: { status: row.status } });
    }
    if (!queue.isReady()) throw new AppError('QUEUE_UNAVAILABLE', 'The job queue is unavailable; try again shortly.', { headers: { 'Retry-After': '5' } });
    const entry = await queue.queue.getJob(id);
    if (entry) {
      if ((await entry.getState()) === 'active') throw new AppError('CONFLICT', 'The job is still held by a worker.');
      // BullMQ ignores an add whose id exists, so the old entry must go first.
      await entry.remove();
    }
    const reset = await jobs.resetForRetry(id);
    if (!reset) throw new AppError('CONFLICT', 'The job changed meanwhile; reload it.');
    try {
      await queue.enqueue(
        { jobId: id, model: row.modelName, ...(row.requestedVersion ? { modelVersion: row.requestedVersion } : {}) },
        row.priority !== null ? { priority: row.priority } : {},
      );
    } catch (error) {
      await jobs.fail(id, row.errorCode ?? 'INTERNAL', row.errorMessage ?? '').catch(() => {});
      throw error;
    }
    void events?.publish({ jobId: id, userId: row.userId, status: 'queued', model: row.modelName });
    return reset;
  }

  /**
   * Cancels any user's job (the owner's own cancel is POST /v1/jobs/:id/cancel). Queued: it leaves
   * the queue. Running: the attempt finishes but its result is discarded. Final: JOB_FINISHED.
   */
  async cancel(id: string): Promise<JobRecord> {
    const { jobs, queue, events } = this.#options;
    if (!uuidPattern.test(id)) throw new AppError('JOB_NOT_FOUND', 'No such job.');
    const row = await jobs.get(id);
    if (!row) throw new AppError('JOB_NOT_FOUND', 'No such job.');
    const finished = (status: string) => new AppError('JOB_FINISHED', `The job is already ${status}.`, { details: { status } });
    if (isFinalStatus(row.status)) throw finished(row.status);
    if (!(await jobs.cancel(id))) throw finished((await jobs.get(id))?.status ?? row.status);
    // Best effort: a job left in Redis is skipped by the worker, which only starts unfinished rows.
    await queue.remove(id).catch(() => false);
    void events?.publish({ jobId: id, userId: row.userId, status: 'canceled', model: row.modelName });
    return (await jobs.get(id)) ?? row;
  }
}
