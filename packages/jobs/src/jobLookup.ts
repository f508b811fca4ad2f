import type { Principal } from '@inferq/accounts';
import { AppError, isUuid } from '@inferq/core';
import type { JobQueries, JobRecord } from '@inferq/db';

export const jobNotFound = () => new AppError('JOB_NOT_FOUND', 'No such job.');

/** Any user's job by id; a malformed id is answered like a missing job. */
export async function findJob(queries: JobQueries, id: string): Promise<JobRecord> {
  if (!isUuid(id)) throw jobNotFound();
  const job = await queries.get(id);
  if (!job) throw jobNotFound();
  return job;
}

/** A job of the caller's; another user's job is answered exactly like a missing one. */
export async function findOwnedJob(queries: JobQueries, principal: Principal, id: string): Promise<JobRecord> {
  const job = await findJob(queries, id);
  if (job.userId !== principal.userId) throw jobNotFound();
  return job;
}
