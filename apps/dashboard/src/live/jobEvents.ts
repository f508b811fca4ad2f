import type { JobStatus, JobView } from '@inferq/core';
import type { JobEvent } from '@inferq/core';
import type { JobPage } from '../api/jobsApi.ts';

export type { JobEvent };

const order: Record<JobStatus, number> = { queued: 0, running: 1, succeeded: 2, failed: 2, canceled: 2, expired: 2 };

/**
 * A job with the status an event announced. Events can arrive out of order (a stale `running`
 * after `succeeded`), so a job never moves back from a final status; the row re-read that follows
 * brings the timings and the result.
 */
export function withEventStatus(job: JobView, event: JobEvent): JobView {
  if (job.id !== event.jobId || job.status === event.status) return job;
  // A retried job legitimately goes from failed back to queued.
  const retried = job.status === 'failed' && event.status === 'queued';
  if (!retried && order[event.status] < order[job.status]) return job;
  return { ...job, status: event.status };
}

/** The page with the job's status patched; the same object when the job is not on it. */
export function patchPage(page: JobPage, event: JobEvent): JobPage {
  let changed = false;
  const data = page.data.map((job) => {
    const next = withEventStatus(job, event);
    if (next !== job) changed = true;
    return next;
  });
  return changed ? { ...page, data } : page;
}

/** Whether the first page should be read again: a job it does not show yet has appeared. */
export function isNewToPage(page: JobPage | undefined, event: JobEvent): boolean {
  return !page || !page.data.some((job) => job.id === event.jobId);
}

/** The page with the job replaced by its fresh view; the same object when the job is not on it. */
export function replaceInPage(page: JobPage, fresh: JobView): JobPage {
  if (!page.data.some((job) => job.id === fresh.id)) return page;
  return { ...page, data: page.data.map((job) => (job.id === fresh.id ? fresh : job)) };
}
