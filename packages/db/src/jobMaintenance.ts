import { Prisma } from '@prisma/client';
import { finalJobStatuses, inFlightJobStatuses, type JobStatus } from '@inferq/core';
import type { Database } from './client.ts';
import { expiredMessage } from './jobExecution.ts';

/** What reconciliation needs to know about an unfinished job to re-enqueue it. */
export interface UnfinishedJob {
  id: string;
  /** The owner; null when the user is gone. */
  userId: string | null;
  status: JobStatus;
  modelName: string;
  requestedVersion: string | null;
  /** The version a traffic split sent it to at submit; a re-enqueue keeps it there. */
  routedVersion: string | null;
  priority: number | null;
  attempts: number;
  createdAt: Date;
}

/** Which finished jobs an operator's clean deletes. */
export interface FinishedJobQuery {
  statuses: Array<'succeeded' | 'failed' | 'canceled' | 'expired'>;
  /** Only jobs that finished before this. */
  finishedBefore: Date;
  /** Only this user's jobs; every user's when absent. */
  userId?: string | undefined;
  limit: number;
}

/** What a deletion removed: how many jobs, and those that were queued or running (whose queue entries must go too). */
export interface DeletedJobs {
  count: number;
  /** Every deleted job's id, for the caller to delete their blobs too. */
  ids: string[];
  /** The result copies of the deleted jobs that had a sink: `{ id, resultPrefix }`. */
  resultCopies: Array<{ id: string; resultPrefix: string }>;
  inFlight: Array<{ id: string; modelName: string }>;
}

export interface UnfinishedJobQuery {
  /** Only jobs created before this (younger ones may still be on their way into the queue). */
  createdBefore: Date;
  /** Continue after this job (the last one of the previous page). */
  after?: { createdAt: Date; id: string } | undefined;
  limit: number;
}

/**
 * The queries of the worker's housekeeping: finding jobs that should be in the queue
 * (reconciliation) and deleting jobs past their retention. Kept apart from JobAdmission and
 * JobExecution, which serve the request and job paths.
 */
export class JobMaintenance {
  readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  /** Queued and running jobs, oldest first (uses the (status, created_at) index). */
  async listUnfinished(query: UnfinishedJobQuery): Promise<UnfinishedJob[]> {
    const after = query.after;
    return this.db.job.findMany({
      where: {
        status: { in: [...inFlightJobStatuses] },
        createdAt: { lt: query.createdBefore },
        ...(after
          ? { OR: [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }] }
          : {}),
      },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: query.limit,
      select: {
        id: true,
        userId: true,
        status: true,
        modelName: true,
        requestedVersion: true,
        routedVersion: true,
        priority: true,
        attempts: true,
        createdAt: true,
      },
    });
  }

  /** The job's status now, or null when the row is gone. */
  async statusOf(id: string): Promise<JobStatus | null> {
    const row = await this.db.job.findUnique({ where: { id }, select: { status: true } });
    return row?.status ?? null;
  }

  /**
   * Deletes up to `limit` final jobs whose `expires_at` has passed, with their input, result and
   * webhook deliveries (foreign keys cascade). A null `expires_at` never expires; an unfinished
   * job is kept until it is final. Returns the deleted jobs' ids and models (whose queue may
   * still hold an entry).
   */
  async deleteExpired(
    now: Date,
    limit: number,
  ): Promise<Array<{ id: string; modelName: string; resultPrefix: string | null }>> {
    const rows = await this.db.$queryRaw<Array<{ id: string; modelName: string; resultPrefix: string | null }>>`
      DELETE FROM jobs
       WHERE id IN (
         SELECT id FROM jobs
          WHERE expires_at <= ${now} AND status = ANY(${[...finalJobStatuses]}::"JobStatus"[])
          ORDER BY expires_at
          LIMIT ${limit}
       )
   RETURNING id, model_name AS "modelName", result_prefix AS "resultPrefix"`;
    return rows;
  }

  /**
   * Moves up to `limit` jobs that never started and are past their ttl (`start_by <= now`) to
   * `expired`, in one statement (the partial index jobs_start_by_queued finds them). A job a
   * worker started meanwhile is no longer queued and is left alone. Returns them, for the caller to
   * take their queue entries out and announce them.
   */
  async expireUnstarted(
    now: Date,
    limit: number,
  ): Promise<Array<{ id: string; userId: string | null; modelName: string }>> {
    return this.db.$queryRaw<Array<{ id: string; userId: string | null; modelName: string }>>`
      UPDATE jobs
         SET status = 'expired', error_code = 'EXPIRED', error_message = ${expiredMessage}, finished_at = ${now}, updated_at = ${now}
       WHERE id IN (
         SELECT id FROM jobs
          WHERE status = 'queued' AND start_by IS NOT NULL AND start_by <= ${now} AND attempts = 0
          ORDER BY start_by
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
       ) AND status = 'queued' AND attempts = 0
   RETURNING id, user_id AS "userId", model_name AS "modelName"`;
  }

  /**
   * Deletes jobs on their owner's request, with their input, result and webhook deliveries (the
   * foreign keys cascade): one job (`id`, only when `userId` owns it), or every job of `userId`.
   * Whatever its status: a queued or running job is deleted too, and is listed in `inFlight` so
   * the caller can take its queue entry out. A running attempt that finishes later writes nothing,
   * since every write of an attempt is conditional on the row (JobExecution), and a gone row
   * matches none of them.
   */
  async deleteOwned(query: { userId: string; id?: string | undefined }): Promise<DeletedJobs> {
    const one = query.id ? Prisma.sql`AND id = ${query.id}::uuid` : Prisma.empty;
    const [row] = await this.db.$queryRaw<
      Array<{
        count: number;
        ids: string[];
        resultCopies: Array<{ id: string; resultPrefix: string }>;
        inFlight: Array<{ id: string; modelName: string }>;
      }>
    >`
      WITH deleted AS (
        DELETE FROM jobs WHERE user_id = ${query.userId}::uuid ${one}
        RETURNING id, model_name, status, result_prefix
      )
      SELECT count(*)::int AS count,
             COALESCE(array_agg(id::text), ARRAY[]::text[]) AS ids,
             COALESCE(json_agg(json_build_object('id', id, 'resultPrefix', result_prefix)) FILTER (WHERE result_prefix IS NOT NULL), '[]'::json) AS "resultCopies",
             COALESCE(json_agg(json_build_object('id', id, 'modelName', model_name))
                        FILTER (WHERE status = ANY(${[...inFlightJobStatuses]}::"JobStatus"[])), '[]'::json) AS "inFlight"
        FROM deleted`;
    return row ?? { count: 0, ids: [], resultCopies: [], inFlight: [] };
  }

  /**
   * An operator's clean: deletes up to `limit` jobs of the given final statuses that finished
   * before `finishedBefore`, oldest first, with their input, result and webhook deliveries (as
   * deleteExpired does; uses the (status, finished_at) index). Returns the deleted ids, for the
   * caller to take their entries out of the queue too, and how many more match.
   */
  async deleteFinished(
    query: FinishedJobQuery,
  ): Promise<{ ids: string[]; remaining: number; resultCopies: Array<{ id: string; resultPrefix: string }> }> {
    const statuses = query.statuses.filter(
      (status) => status === 'succeeded' || status === 'failed' || status === 'canceled' || status === 'expired',
    );
    if (statuses.length === 0) return { ids: [], remaining: 0, resultCopies: [] };
    const owner = query.userId ? Prisma.sql`AND user_id = ${query.userId}::uuid` : Prisma.empty;
    const rows = await this.db.$queryRaw<Array<{ id: string; resultPrefix: string | null }>>`
      DELETE FROM jobs
       WHERE id IN (
         SELECT id FROM jobs
          WHERE status::text IN (${Prisma.join(statuses)}) AND finished_at < ${query.finishedBefore} ${owner}
          ORDER BY finished_at
          LIMIT ${query.limit}
       )
   RETURNING id, result_prefix AS "resultPrefix"`;
    const remaining = await this.countFinished(query);
    const resultCopies = rows.flatMap((row) =>
      row.resultPrefix ? [{ id: row.id, resultPrefix: row.resultPrefix }] : [],
    );
    return { ids: rows.map((row) => row.id), remaining, resultCopies };
  }

  /** How many jobs deleteFinished would delete, without a limit. */
  async countFinished(query: Omit<FinishedJobQuery, 'limit'>): Promise<number> {
    return this.db.job.count({
      where: {
        status: { in: query.statuses },
        finishedAt: { lt: query.finishedBefore },
        ...(query.userId ? { userId: query.userId } : {}),
      },
    });
  }

  /** Ids of failed jobs (one user's, or everyone's), oldest failure first, for a bulk retry. */
  async listFailedIds(query: {
    userId?: string | undefined;
    limit: number;
  }): Promise<{ ids: string[]; total: number }> {
    const where = { status: 'failed' as const, ...(query.userId ? { userId: query.userId } : {}) };
    const [rows, total] = await Promise.all([
      this.db.job.findMany({
        where,
        orderBy: [{ finishedAt: 'asc' }, { id: 'asc' }],
        take: query.limit,
        select: { id: true },
      }),
      this.db.job.count({ where }),
    ]);
    return { ids: rows.map((row) => row.id), total };
  }
}
