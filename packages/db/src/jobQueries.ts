import type pg from 'pg';
import { inFlightJobStatuses, type JobStatus } from '@inferq/core';
import { sqlPool, type Database } from './client.ts';
import type { StoredInput } from './inputBlobs.ts';
import { jobRecordFromRow, jobWithResultColumns, selectJob, selectJobs, type JobRecord } from './jobRows.ts';

export interface JobListQuery extends JobFilter {
  /** Continue after this job (the last one of the previous page). */
  after?: { createdAt: Date; id: string } | undefined;
  limit: number;
}

/** Which jobs a listing, a count or a bulk operation covers; every field narrows it (AND). */
export interface JobFilter {
  /** Only this owner's jobs; all users' when absent. */
  userId?: string | undefined;
  statuses?: JobStatus[] | undefined;
  /** Model names, any of. */
  models?: string[] | undefined;
  /** The version that ran the job, or (until one ran it) the version asked for; any of. */
  versions?: string[] | undefined;
  /** Failure codes, any of. */
  errorCodes?: string[] | undefined;
  /** Submitted at or after. */
  createdAfter?: Date | undefined;
  /** Submitted before. */
  createdBefore?: Date | undefined;
  /** Every key given with exactly this value (`metadata @>`, from the GIN index). */
  metadata?: Readonly<Record<string, string>> | undefined;
  /** Finished (failed, succeeded, canceled) at or before. */
  finishedAtOrBefore?: Date | undefined;
  /** Lower-case text found in the id, the file name or a metadata value (the trigram index). */
  text?: string | undefined;
}

/** `%`, `_` and `\` matched as themselves in a LIKE pattern. */
function likeEscaped(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The WHERE clause of a filter over `jobs j`, its values numbered from `values.length + 1`. Each
 * condition is one an index answers: (user_id, created_at), (status, created_at),
 * (model_name, created_at), (error_code, created_at), and job_search's metadata and trigram GINs.
 */
export function jobFilterSql(filter: JobFilter, values: unknown[]): string {
  const param = (value: unknown, type: string) => {
    values.push(value);
    return `$${values.length}::${type}`;
  };
  const where: string[] = [];
  if (filter.userId) where.push(`j.user_id = ${param(filter.userId, 'uuid')}`);
  if (filter.statuses?.length) where.push(`j.status = ANY(${param(filter.statuses, '"JobStatus"[]')})`);
  if (filter.models?.length) where.push(`j.model_name = ANY(${param(filter.models, 'text[]')})`);
  if (filter.versions?.length)
    where.push(`coalesce(j.model_version, j.requested_version) = ANY(${param(filter.versions, 'text[]')})`);
  if (filter.errorCodes?.length) where.push(`j.error_code = ANY(${param(filter.errorCodes, 'text[]')})`);
  if (filter.createdAfter) where.push(`j.created_at >= ${param(filter.createdAfter, 'timestamptz')}`);
  if (filter.createdBefore) where.push(`j.created_at < ${param(filter.createdBefore, 'timestamptz')}`);
  if (filter.finishedAtOrBefore) where.push(`j.finished_at <= ${param(filter.finishedAtOrBefore, 'timestamptz')}`);
  // Both from job_search's GIN indexes (written once per job, not at every status change).
  const search: string[] = [];
  if (filter.metadata && Object.keys(filter.metadata).length > 0)
    search.push(`s.metadata @> ${param(JSON.stringify(filter.metadata), 'jsonb')}`);
  if (filter.text) search.push(`s.text LIKE ${param(`%${likeEscaped(filter.text.toLowerCase())}%`, 'text')}`);
  if (search.length > 0)
    where.push(`EXISTS (SELECT 1 FROM job_search s WHERE s.job_id = j.id AND ${search.join(' AND ')})`);
  return where.length > 0 ? where.join(' AND ') : 'true';
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
    const groups = await this.db.job.groupBy({
      by: ['userId'],
      where: { status: { in: inFlightStatuses } },
      _count: { _all: true },
    });
    return new Map(groups.filter((group) => group.userId).map((group) => [group.userId!, group._count._all]));
  }

  /** Jobs newest first (ties broken by id), for cursor pagination. */
  async list(query: JobListQuery): Promise<JobRecord[]> {
    const values: unknown[] = [];
    let where = jobFilterSql(query, values);
    if (query.after) {
      values.push(query.after.createdAt, query.after.id);
      where += ` AND (j.created_at, j.id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`;
    }
    values.push(query.limit);
    const { rows } = await this.#sql.query(
      `SELECT ${jobWithResultColumns} FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id
        WHERE ${where} ORDER BY j.created_at DESC, j.id DESC LIMIT $${values.length}::int`,
      values,
    );
    return rows.map((row) => jobRecordFromRow(row as Record<string, unknown>));
  }

  /** Ids of the jobs a filter covers, oldest finish first (a bulk operation's order), at most `limit`. */
  async ids(filter: JobFilter, limit: number): Promise<string[]> {
    const values: unknown[] = [];
    const where = jobFilterSql(filter, values);
    values.push(limit);
    const { rows } = await this.#sql.query<{ id: string }>(
      `SELECT j.id FROM jobs j WHERE ${where} ORDER BY j.finished_at ASC NULLS LAST, j.id ASC LIMIT $${values.length}::int`,
      values,
    );
    return rows.map((row) => row.id);
  }

  /** How many jobs a filter covers, counting at most `cap` (a preview need not scan everything). */
  async count(filter: JobFilter, cap: number): Promise<number> {
    const values: unknown[] = [];
    const where = jobFilterSql(filter, values);
    values.push(cap);
    const { rows } = await this.#sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM jobs j WHERE ${where} LIMIT $${values.length}::int) s`,
      values,
    );
    return rows[0]?.n ?? 0;
  }
}
