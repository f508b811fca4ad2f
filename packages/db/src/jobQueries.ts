import type pg from 'pg';
import { inFlightJobStatuses, type JobStatus } from '@inferq/core';
import { sqlPool, type Database } from './client.ts';
import type { StoredInput } from './inputBlobs.ts';
import { jobWithResult, selectJob, selectJobs, type JobRecord } from './jobRows.ts';

export interface JobListQuery {
  /** Only this owner's jobs; all users' when absent. */
  userId?: string | undefined;
  statuses?: JobStatus[] | undefined;
  /** Continue after this job (the last one of the previous page). */
  after?: { createdAt: Date; id: string } | undefined;
  limit: number;
}

const inFlightStatuses: JobStatus[] = [...inFlightJobStatuses];

/** Reads of jobs for the API's routes, the operators' views and the webhook dispatcher. */
export class JobQueries {
  readonly db: Database;
  readonly #sql: pg.Pool;

  constructor(db: Database) {
    this.db = db;
    this.#sql = sqlPool(db);
  }

  async get(id: string): Promise<JobRecord | null> {
    return selectJob(this.#sql, id);
  }

  /** Jobs by id in the order given, null where missing, in one statement. */
  async getMany(ids: readonly string[]): Promise<Array<JobRecord | null>> {
    return selectJobs(this.#sql, ids);
  }

  /** Where a job's input is: its bytes (kept in Postgres), or its blob key; null when there is none. */
  async getInput(id: string): Promise<StoredInput | null> {
    const input = await this.db.jobInput.findUnique({ where: { jobId: id }, select: { data: true, blobKey: true } });
    if (!input) return null;
    return input.blobKey ? { blobKey: input.blobKey } : input.data ? { data: Buffer.from(input.data) } : null;
  }

  /** Queued + running jobs of one user. */
  async countInFlight(userId: string): Promise<number> {
    return this.db.job.count({ where: { userId, status: { in: inFlightStatuses } } });
  }

  /** Queued + running jobs per user, for the users that have any. */
  async inFlightByUser(): Promise<Map<string, number>> {
    const groups = await this.db.job.groupBy({ by: ['userId'], where: { status: { in: inFlightStatuses } }, _count: { _all: true } });
    return new Map(groups.filter((group) => group.userId).map((group) => [group.userId!, group._count._all]));
  }

  /** Jobs newest first (ties broken by id), for cursor pagination. */
  async list(query: JobListQuery): Promise<JobRecord[]> {
    const after = query.after;
    return this.db.job.findMany({
      where: {
        ...(query.userId ? { userId: query.userId } : {}),
        ...(query.statuses?.length ? { status: { in: query.statuses } } : {}),
        ...(after
          ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] }
          : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: query.limit,
      include: jobWithResult,
    });
  }
}
