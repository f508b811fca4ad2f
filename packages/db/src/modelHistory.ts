import type pg from 'pg';
import { sqlPool, type Database } from './client.ts';

/** One model's minute (or a coarser bucket of minutes) of history. */
export interface HistoryPoint {
  model: string;
  /** The bucket's start. */
  at: Date;
  submitted: number;
  succeeded: number;
  failed: number;
  /** Of the bucket's minutes: the median of their p50, the highest p95 (a percentile cannot be summed). */
  queueWaitP50Ms: number | null;
  queueWaitP95Ms: number | null;
  /** The highest sampled age of the oldest waiting job in the bucket. */
  oldestWaitingMs: number | null;
  /** The fewest workers sampled in the bucket (a gap shows). */
  workers: number | null;
}

/** A sample taken when a minute is written: what cannot be read back later from the jobs. */
export interface HistorySample {
  /** Per model, the creation time of its oldest queued job. */
  oldestQueued: Map<string, Date>;
  /** Per model, the live workers serving it. */
  workers: Map<string, number>;
}

const minuteMs = 60_000;

/**
 * The per-model history in Postgres at one-minute resolution (`model_history`): outlives Redis,
 * BullMQ's trimmed job lists and process restarts. Written by one owner (the reconciler's leader,
 * HistoryRecorder); read by the operators' page.
 */
export class ModelHistoryStore {
  readonly #sql: pg.Pool;

  constructor(db: Database) {
    this.#sql = sqlPool(db);
  }

  /**
   * Writes the minutes that ended in the last `minutes` minutes before `now` from the jobs (the
   * counts and waits again, so a late write is caught up), and the sample into the last of them.
   * Each statement reads only the window, from the (created_at) and (status, finished_at) indexes.
   */
  async record(now: Date, sample: HistorySample, minutes = 2): Promise<void> {
    const hi = new Date(Math.floor(now.getTime() / minuteMs) * minuteMs);
    const lo = new Date(hi.getTime() - minutes * minuteMs);
    await this.#sql.query({
      name: 'inferq-history-record',
      text: `
      WITH submitted AS (
        SELECT model_name, date_trunc('minute', created_at) AS minute, count(*)::int AS n
          FROM jobs WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2
      ), finished AS (
        SELECT model_name, date_trunc('minute', finished_at) AS minute,
               count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
               count(*) FILTER (WHERE status = 'failed')::int AS failed,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY queue_wait_ms) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY queue_wait_ms) AS p95
          FROM jobs WHERE status IN ('succeeded', 'failed') AND finished_at >= $1 AND finished_at < $2 GROUP BY 1, 2
      ), keys AS (SELECT model_name, minute FROM submitted UNION SELECT model_name, minute FROM finished)
      INSERT INTO model_history (model_name, minute, submitted, succeeded, failed, queue_wait_p50_ms, queue_wait_p95_ms)
      SELECT k.model_name, k.minute, coalesce(s.n, 0), coalesce(f.succeeded, 0), coalesce(f.failed, 0), round(f.p50)::int, round(f.p95)::int
        FROM keys k LEFT JOIN submitted s USING (model_name, minute) LEFT JOIN finished f USING (model_name, minute)
      ON CONFLICT (model_name, minute) DO UPDATE SET submitted = EXCLUDED.submitted, succeeded = EXCLUDED.succeeded, failed = EXCLUDED.failed,
        queue_wait_p50_ms = EXCLUDED.queue_wait_p50_ms, queue_wait_p95_ms = EXCLUDED.queue_wait_p95_ms`,
      values: [lo, hi],
    });
    const models = [...new Set([...sample.oldestQueued.keys(), ...sample.workers.keys()])];
    if (models.length === 0) return;
    const sampled = new Date(hi.getTime() - minuteMs);
    await this.#sql.query({
      name: 'inferq-history-sample',
      text: `
      INSERT INTO model_history (model_name, minute, oldest_waiting_ms, workers)
      SELECT * FROM unnest($1::text[], array_fill($2::timestamptz, ARRAY[cardinality($1::text[])]), $3::int[], $4::int[])
      ON CONFLICT (model_name, minute) DO UPDATE SET oldest_waiting_ms = EXCLUDED.oldest_waiting_ms, workers = EXCLUDED.workers`,
      values: [
        models,
        sampled,
        models.map((model) => {
          const oldest = sample.oldestQueued.get(model);
          return oldest ? Math.max(0, now.getTime() - oldest.getTime()) : 0;
        }),
        models.map((model) => sample.workers.get(model) ?? 0),
      ],
    });
  }

  /** Per model, the creation time of its oldest queued job (from the (status, created_at) index). */
  async oldestQueued(): Promise<Map<string, Date>> {
    const { rows } = await this.#sql.query<{ model_name: string; oldest: Date }>({
      name: 'inferq-history-oldest',
      text: `SELECT model_name, min(created_at) AS oldest FROM jobs WHERE status = 'queued' GROUP BY model_name`,
    });
    return new Map(rows.map((row) => [row.model_name, row.oldest]));
  }

  /** Deletes minutes older than `before`; returns how many rows went. */
  async deleteBefore(before: Date): Promise<number> {
    const result = await this.#sql.query({
      name: 'inferq-history-retention',
      text: 'DELETE FROM model_history WHERE minute < $1',
      values: [before],
    });
    return result.rowCount ?? 0;
  }

  /**
   * The history of `[from, to)` in buckets of `bucketMinutes` (1: the minutes as written), per
   * model (one model's with `model`), oldest first.
   */
  async read(options: {
    from: Date;
    to: Date;
    bucketMinutes: number;
    model?: string | undefined;
  }): Promise<HistoryPoint[]> {
    const { rows } = await this.#sql.query<Record<string, unknown>>(
      `SELECT model_name, to_timestamp(floor(extract(epoch FROM minute) / $3) * $3) AS at,
              sum(submitted)::int AS submitted, sum(succeeded)::int AS succeeded, sum(failed)::int AS failed,
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY queue_wait_p50_ms))::int AS p50, max(queue_wait_p95_ms) AS p95,
              max(oldest_waiting_ms) AS oldest, min(workers) AS workers
         FROM model_history
        WHERE minute >= $1 AND minute < $2 AND ($4::text IS NULL OR model_name = $4)
        GROUP BY 1, 2 ORDER BY 2, 1`,
      [options.from, options.to, options.bucketMinutes * 60, options.model ?? null],
    );
    return rows.map((row) => ({
      model: row.model_name as string,
      at: row.at as Date,
      submitted: row.submitted as number,
      succeeded: row.succeeded as number,
      failed: row.failed as number,
      queueWaitP50Ms: row.p50 as number | null,
      queueWaitP95Ms: row.p95 as number | null,
      oldestWaitingMs: row.oldest as number | null,
      workers: row.workers as number | null,
    }));
  }
}
