import { z } from 'zod';
import { jobStatuses } from './types.ts';

/**
 * A job's status changed: published on Redis by the API and the worker after the row changed in
 * Postgres, read by the API's waiters and live streams and by the webhook dispatcher, and sent as
 * is (`event: job`) on /v1/events.
 */
export const jobEventSchema = z
  .object({
    jobId: z.string(),
    userId: z.string().nullable(),
    status: z.enum(jobStatuses),
    model: z.string().optional(),
    /** ISO time of the change. */
    at: z.string(),
  })
  .meta({ id: 'JobEvent' });
export type JobEvent = z.infer<typeof jobEventSchema>;
