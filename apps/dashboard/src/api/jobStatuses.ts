import type { JobStatus } from '@inferq/core';

/**
 * The job statuses, in lifecycle order. A copy of the core list made here so the bundle does not
 * pull in @inferq/core's runtime (zod); the checks below fail the build if the two ever differ.
 */
export const jobStatuses = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'canceled',
  'expired',
] as const satisfies readonly JobStatus[];

type Missing = Exclude<JobStatus, (typeof jobStatuses)[number]>;
const complete: [Missing] extends [never] ? true : never = true;
void complete;
