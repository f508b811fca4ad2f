import { z } from 'zod';

/**
 * Wire schemas of the operators' bulk actions (bull-board's queue buttons): pause and resume,
 * retry every failed job, clean finished jobs older than an age. The Postgres row is the source
 * of truth for a job, so each action works on rows first and brings the queue in line.
 */

/** Whether the inference queue(s) hand out jobs; the answer of pause and resume. */
export const queueControlViewSchema = z
  .object({
    /** True while workers take no new jobs (running ones finish; submissions still queue). */
    paused: z.boolean(),
    /** Every queue the action applied to. */
    queues: z.array(z.string()),
  })
  .meta({ id: 'QueueControl' });
export type QueueControlView = z.infer<typeof queueControlViewSchema>;

/** Most jobs one bulk request touches; a larger backlog takes more requests (`remaining` says so). */
export const maxBulkJobs = 10_000;

/** `POST /v1/admin/jobs/retry-failed`. */
export const retryFailedBodySchema = z
  .object({
    /** Only this user's failed jobs. */
    userId: z.uuid().optional(),
    limit: z
      .number()
      .int()
      .min(1)
      .max(maxBulkJobs)
      .optional()
      .meta({ description: `At most this many jobs; default ${maxBulkJobs}.` }),
  })
  .meta({ id: 'RetryFailedBody' });
export type RetryFailedBody = z.infer<typeof retryFailedBodySchema>;

export const retryFailedViewSchema = z
  .object({
    /** Failed jobs put back in the queue, under their own ids. */
    retried: z.number().int(),
    /** Failed jobs left as they were: past the limit, or changed or still held by a worker meanwhile. */
    remaining: z.number().int(),
  })
  .meta({ id: 'RetryFailedResult' });
export type RetryFailedView = z.infer<typeof retryFailedViewSchema>;

export const cleanableStatuses = ['succeeded', 'failed', 'canceled', 'expired'] as const;

/** `POST /v1/admin/jobs/clean`. */
export const cleanJobsBodySchema = z
  .object({
    statuses: z.array(z.enum(cleanableStatuses)).min(1).meta({ description: 'Which final statuses to delete.' }),
    olderThanSeconds: z
      .number()
      .int()
      .min(0)
      .max(10 * 365 * 24 * 3600)
      .meta({ description: 'Only jobs that finished at least this long ago.' }),
    /** Only this user's jobs. */
    userId: z.uuid().optional(),
    /** Count what would be deleted, delete nothing. */
    dryRun: z.boolean().optional(),
    limit: z
      .number()
      .int()
      .min(1)
      .max(maxBulkJobs)
      .optional()
      .meta({ description: `At most this many jobs; default ${maxBulkJobs}.` }),
  })
  .meta({ id: 'CleanJobsBody' });
export type CleanJobsBody = z.infer<typeof cleanJobsBodySchema>;

export const cleanJobsViewSchema = z
  .object({
    /** Jobs deleted with their input, result and webhook deliveries; with `dryRun`, jobs that would be. */
    deleted: z.number().int(),
    /** Matching jobs left past the limit. */
    remaining: z.number().int(),
    dryRun: z.boolean(),
  })
  .meta({ id: 'CleanJobsResult' });
export type CleanJobsView = z.infer<typeof cleanJobsViewSchema>;

/** One user's use of an admission resource in this API process. */
export const admissionUserSchema = z
  .object({
    userId: z.string(),
    /** Units held now (slots, bytes, decode cost or streams). */
    held: z.number(),
    /** Requests waiting for their turn now. */
    waiting: z.number().int(),
    /** Requests that had to wait for their turn, since the process started. */
    queued: z.number().int(),
    /** Requests refused (their turn did not come in time, or their queues were full), since the process started. */
    refused: z.number().int(),
  })
  .meta({ id: 'AdmissionUser' });

/** One fair-queued resource of an API process, and its users. */
export const admissionResourceSchema = z
  .object({
    capacity: z.number(),
    inUse: z.number(),
    waiting: z.number().int(),
    /** Users holding or waiting now, and the most recent others (at most 100 idle ones). */
    users: z.array(admissionUserSchema),
  })
  .meta({ id: 'AdmissionResource' });

/** `GET /v1/admin/admission`: the fair queues of the API process that answered. */
export const admissionViewSchema = z
  .object({
    submits: admissionResourceSchema,
    uploadBytes: admissionResourceSchema,
    decodePixels: admissionResourceSchema,
    streams: admissionResourceSchema,
  })
  .meta({ id: 'AdmissionView' });
export type AdmissionView = z.infer<typeof admissionViewSchema>;

/**
 * Which jobs a bulk operation covers: the filters of `GET /v1/admin/jobs` as a JSON object (each
 * list comma-separated, as in the query string).
 */
export const jobSelectionSchema = z
  .object({
    user: z.string().optional().meta({ description: 'A user id.' }),
    status: z.string().max(200).optional(),
    model: z.string().max(2000).optional(),
    version: z.string().max(2000).optional(),
    errorCode: z.string().max(2000).optional(),
    createdAfter: z.string().max(40).optional(),
    createdBefore: z.string().max(40).optional(),
    metadata: z.record(z.string(), z.string()).optional().meta({ description: 'Every key with exactly this value.' }),
    q: z
      .string()
      .max(200)
      .optional()
      .meta({ description: 'Text in the id, the file name or a metadata value (3 characters or more).' }),
  })
  .strict()
  .meta({ id: 'JobSelection' });
export type JobSelection = z.infer<typeof jobSelectionSchema>;

/** `POST /v1/admin/jobs/retry`: failed jobs of a selection, previewed first. */
export const retryJobsBodySchema = z
  .object({
    filter: jobSelectionSchema.optional(),
    /**
     * Only jobs that had failed by this instant: the preview answers it, and sending it back makes
     * the operation the one previewed. A job retried and failed again since is not retried twice.
     */
    asOf: z.iso.datetime({ offset: true }).optional(),
    dryRun: z
      .boolean()
      .optional()
      .meta({ description: 'Count only (the preview); answers the `asOf` and `operationId` to send back.' }),
    limit: z
      .number()
      .int()
      .min(1)
      .max(maxBulkJobs)
      .optional()
      .meta({
        description: `At most this many jobs; default ${maxBulkJobs}. Send the same request again for the rest.`,
      }),
  })
  .meta({ id: 'RetryJobsBody' });
export type RetryJobsBody = z.infer<typeof retryJobsBodySchema>;

export const retryJobsViewSchema = z
  .object({
    /** Derived from the selection and `asOf`: the same request is the same operation. */
    operationId: z.string(),
    asOf: z.iso.datetime(),
    /** Failed jobs of the selection that had failed by `asOf` and are still failed. */
    matched: z.number().int(),
    /** Put back in the queue by this request (0 on a preview). */
    retried: z.number().int(),
    /** Matched and not retried by this request: past the limit, or changed meanwhile. */
    remaining: z.number().int(),
    dryRun: z.boolean(),
  })
  .meta({ id: 'RetryJobsResult' });
export type RetryJobsView = z.infer<typeof retryJobsViewSchema>;

/** `POST /v1/admin/webhooks/redeliver`: every job whose webhook delivery failed within a time range. */
export const redeliverWebhooksBodySchema = z
  .object({
    from: z.iso.datetime({ offset: true }).meta({ description: 'Failed attempts made at or after this instant.' }),
    to: z.iso.datetime({ offset: true }).meta({ description: 'Failed attempts made before this instant.' }),
    dryRun: z.boolean().optional().meta({ description: 'Count only.' }),
    limit: z
      .number()
      .int()
      .min(1)
      .max(maxBulkJobs)
      .optional()
      .meta({ description: `At most this many jobs; default ${maxBulkJobs}.` }),
  })
  .meta({ id: 'RedeliverWebhooksBody' });
export type RedeliverWebhooksBody = z.infer<typeof redeliverWebhooksBodySchema>;

export const redeliveryViewSchema = z
  .object({
    /** Derived from the request (the range, or the job and its Idempotency-Key): sent twice, it is enqueued once. */
    operationId: z.string(),
    /** Jobs whose final-state webhook has no successful attempt and a failed one in the range (1 for one job). */
    matched: z.number().int(),
    /** New deliveries enqueued by this request (0 on a preview, or when this operation ran already). */
    enqueued: z.number().int(),
    dryRun: z.boolean(),
  })
  .meta({ id: 'Redelivery' });
export type RedeliveryView = z.infer<typeof redeliveryViewSchema>;

/** The ranges of the operators' history, each with its bucket: an hour by the minute, a day by 5 minutes, a week by the hour. */
export const historyRanges = {
  hour: { minutes: 60, bucketMinutes: 1 },
  day: { minutes: 1440, bucketMinutes: 5 },
  week: { minutes: 10_080, bucketMinutes: 60 },
} as const;
export type HistoryRange = keyof typeof historyRanges;

export const historyPointSchema = z.object({
  model: z.string(),
  /** The bucket's start. */
  at: z.iso.datetime(),
  submitted: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  /** Queue wait of the jobs that finished in the bucket: the median of the minutes' p50 and the highest minute's p95. */
  queueWaitP50Ms: z.number().int().nullable(),
  queueWaitP95Ms: z.number().int().nullable(),
  /** The oldest waiting job's age, the highest sampled in the bucket; null when not sampled. */
  oldestWaitingMs: z.number().int().nullable(),
  /** Live workers serving the model, the fewest sampled in the bucket; null when not sampled. */
  workers: z.number().int().nullable(),
});

export const historyViewSchema = z
  .object({
    range: z.enum(Object.keys(historyRanges) as [HistoryRange, ...HistoryRange[]]),
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    bucketSeconds: z.number().int(),
    /** Per model and bucket, oldest first; a bucket with nothing written is absent. */
    points: z.array(historyPointSchema),
  })
  .meta({
    id: 'History',
    description: 'Per model, kept in Postgres at one-minute resolution for HISTORY_RETENTION_DAYS.',
  });
export type HistoryView = z.infer<typeof historyViewSchema>;
