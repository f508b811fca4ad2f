import type pg from 'pg';
import { sqlPool, type Database } from './client.ts';
import { inFlightStatusesSql } from './jobRows.ts';

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface JobStatsBucket {
  start: Date;
  succeeded: number;
  failed: number;
  /** Finished jobs per second over the bucket. */
  throughput: number;
  queueWaitMs: Percentiles;
  inferenceMs: Percentiles;
  endToEndMs: Percentiles;
}

export interface JobStatsSeries {
  from: Date;
  to: Date;
  bucketSeconds: number;
  /** Every bucket of the window, oldest first; empty buckets have zero counts and null percentiles. */
  buckets: JobStatsBucket[];
  totals: Omit<JobStatsBucket, 'start'>;
}

export interface JobStatsQuery {
  /** End of the window. @defaultValue now */
  to?: Date;
  /** @defaultValue 3600 */
  windowSeconds?: number;
  /** @defaultValue 60 */
  bucketSeconds?: number;
}

interface BucketRow {
  bucket: number | null;
  succeeded: bigint;
  failed: bigint;
  queue_wait: number[] | null;
  inference: number[] | null;
  end_to_end: number[] | null;
}

function percentiles(values: number[] | null): Percentiles {
  const round = (value: number | undefined) =>
    value === undefined || value === null ? null : Math.round(value * 10) / 10;
  return { p50: round(values?.[0]), p95: round(values?.[1]), p99: round(values?.[2]) };
}

/**
 * Throughput and latency of finished jobs, computed by Postgres (percentile_cont per time bucket
 * and over the whole window, in one grouped query), for the operators' charts.
 */
export class JobStats {
  readonly #db: Database;
  readonly #sql: pg.Pool;

  constructor(db: Database) {
    this.#db = db;
    this.#sql = sqlPool(db);
  }

  async series(query: JobStatsQuery = {}): Promise<JobStatsSeries> {
    const to = query.to ?? new Date();
    const windowSeconds = query.windowSeconds ?? 3600;
    const bucketSeconds = query.bucketSeconds ?? 60;
    const bucketCount = Math.ceil(windowSeconds / bucketSeconds);
    const from = new Date(to.getTime() - bucketCount * bucketSeconds * 1000);
    const rows = await this.#db.$queryRaw<BucketRow[]>`
      SELECT floor(EXTRACT(EPOCH FROM (finished_at - ${from}::timestamptz)) / ${bucketSeconds})::int AS bucket,
             count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
             count(*) FILTER (WHERE status = 'failed') AS failed,
             percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY queue_wait_ms) AS queue_wait,
             percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY inference_ms) AS inference,
             percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (finished_at - created_at)) * 1000) AS end_to_end
        FROM jobs
       WHERE status IN ('succeeded', 'failed')
         AND finished_at >= ${from}::timestamptz AND finished_at < ${to}::timestamptz
       GROUP BY GROUPING SETS ((1), ())`;

    const toBucket = (row: BucketRow | undefined, seconds: number) => {
      const succeeded = Number(row?.succeeded ?? 0);
      const failed = Number(row?.failed ?? 0);
      return {
        succeeded,
        failed,
        throughput: Math.round(((succeeded + failed) / seconds) * 1000) / 1000,
        queueWaitMs: percentiles(row?.queue_wait ?? null),
        inferenceMs: percentiles(row?.inference ?? null),
        endToEndMs: percentiles(row?.end_to_end ?? null),
      };
    };
    const byIndex = new Map(rows.filter((row) => row.bucket !== null).map((row) => [row.bucket as number, row]));
    const buckets = Array.from({ length: bucketCount }, (_, index) => ({
      start: new Date(from.getTime() + index * bucketSeconds * 1000),
      ...toBucket(byIndex.get(index), bucketSeconds),
    }));
    const totals = toBucket(
      rows.find((row) => row.bucket === null),
      bucketCount * bucketSeconds,
    );
    return { from, to, bucketSeconds, buckets, totals };
  }

  /**
   * A user's submits since `since` and jobs queued or running, in one pg statement (two Prisma
   * counts cost about 1 ms of the API's CPU). Each count is a subquery of its own, so each uses
   * its index (user_id + created_at, user_id + status) however long the user's history.
   */
  async usage(userId: string, since: Date): Promise<{ submittedSince: number; inFlight: number }> {
    const { rows } = await this.#sql.query<{ submitted: number; in_flight: number }>({
      name: 'inferq-account-usage',
      text: `SELECT (SELECT count(*)::int FROM jobs WHERE user_id = $1 AND created_at >= $2) AS submitted,
                    (SELECT count(*)::int FROM jobs WHERE user_id = $1 AND status IN (${inFlightStatusesSql})) AS in_flight`,
      values: [userId, since],
    });
    return { submittedSince: rows[0]!.submitted, inFlight: rows[0]!.in_flight };
  }
}
