import { z } from 'zod';

/**
 * Wire schemas of the routes the dashboard reads besides the public job routes: the caller's
 * account, the operator overview (queue, workers) and the throughput and latency series.
 * The API answers through them and the dashboard takes its types from them.
 */

/** One live worker process, as it announces itself every few seconds. */
export const workerHeartbeatSchema = z
  .object({
    workerId: z.string(),
    host: z.string(),
    pid: z.number().int(),
    /** tensorflow-gpu, tensorflow, wasm or cpu. */
    backend: z.string(),
    queue: z.string(),
    models: z.array(
      z.object({
        name: z.string(),
        /** The live version this worker serves jobs that name no version with. */
        version: z.string(),
        /** The engine running it here: `onnxruntime-cpu`, `tfjs-wasm`, … */
        engine: z.string().optional(),
        /** Every version loaded and serving here (the live one, versions pinned by jobs). */
        loaded: z.array(z.string()).optional(),
        /** How long loading and warming up the live version took here, in ms (a queued job's ETA adds it while no worker serves the model). */
        loadMs: z.number().optional(),
        /** A hot swap not done yet: loading the version LIVE names, or failed to (old one still served). */
        swap: z
          .object({
            to: z.string(),
            state: z.enum(['loading', 'failed']),
            since: z.string(),
            error: z.object({ code: z.string(), reason: z.string().optional(), message: z.string() }).optional(),
          })
          .nullable()
          .optional(),
      }),
    ),
    /** ONNX Runtime in this worker: the provider it chose (null: not running), and why better ones were skipped. */
    onnxRuntime: z
      .object({
        provider: z.string().nullable(),
        preference: z.string(),
        intraOpThreads: z.number().int().optional(),
        version: z.string().optional(),
        skipped: z.array(z.object({ name: z.string(), reason: z.string() })),
      })
      .optional(),
    /** Models this worker should serve but could not load (a broken live version): it serves the others. */
    failedModels: z
      .array(
        z.object({
          name: z.string(),
          version: z.string().nullable(),
          code: z.string(),
          reason: z.string().optional(),
          message: z.string(),
          since: z.string(),
        }),
      )
      .optional(),
    /** Inputs in the model batch running right now (0 when idle). */
    currentBatch: z.number().int(),
    /** Jobs the process holds right now (waiting for a batch or running). */
    activeJobs: z.number().int(),
    /**
     * Per served model: jobs taken from its queue and held (waiting to be preprocessed or for their
     * batch to start), and jobs running (being preprocessed, or in the batch that runs now).
     */
    jobs: z
      .array(
        z.object({
          model: z.string(),
          held: z.number().int(),
          running: z.number().int(),
          concurrency: z.number().int(),
          /** Jobs of the model this worker finished per second of busy time over the last minute; null when it finished none. */
          throughput: z.number().nullable().optional(),
        }),
      )
      .optional(),
    jobsSucceeded: z.number().int(),
    jobsFailed: z.number().int(),
    startedAt: z.iso.datetime(),
    /** Time of this heartbeat. */
    heartbeatAt: z.iso.datetime(),
  })
  .meta({ id: 'WorkerHeartbeat' });
export type WorkerHeartbeat = z.infer<typeof workerHeartbeatSchema>;

export const accountViewSchema = z
  .object({
    user: z.object({ id: z.uuid(), email: z.string(), role: z.enum(['user', 'admin']) }),
    tier: z.object({
      name: z.string(),
      submitsPerWindow: z.number().int(),
      rateWindowSeconds: z.number().int(),
      maxJobsInFlight: z.number().int(),
      maxUploadBytes: z.number().int(),
      maxPixels: z.number().int(),
      maxBatchImages: z.number().int(),
      retentionDays: z.number().int(),
    }),
    usage: z.object({
      /** Submissions in the current rate window. */
      submitsInWindow: z.number().int(),
      /** Jobs queued or running now. */
      jobsInFlight: z.number().int(),
    }),
  })
  .meta({ id: 'Account' });
export type AccountView = z.infer<typeof accountViewSchema>;

export const queueStates = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'] as const;
export type QueueState = (typeof queueStates)[number];

/** What an operator sees of the queue right now; also pushed every few seconds on /v1/events. */
export const queueSnapshotSchema = z
  .object({
    queue: z.string(),
    counts: z.record(z.enum(queueStates), z.number().int()),
    /** Jobs the global cap counts: waiting, prioritized, active, delayed and paused. */
    inSystem: z.number().int(),
    /** Jobs waiting or running above which submissions are refused with QUEUE_FULL; null: no cap. */
    cap: z.number().int().nullable(),
    paused: z.boolean(),
    /**
     * Each model's own queue (one per model: a worker takes only jobs of models it serves), with the
     * live workers serving it; a model with jobs queued and no worker waits for one.
     */
    models: z
      .array(
        z.object({
          model: z.string(),
          counts: z.record(z.enum(queueStates), z.number().int()),
          /** Live workers that serve the model. */
          workers: z.number().int(),
          /** Jobs of the model workers hold but whose preprocessing or batch has not started. */
          held: z.number().int(),
          /** Jobs of the model being preprocessed or in a running batch. */
          running: z.number().int(),
          /** `worker`: jobs are queued and no live worker serves the model. */
          waitingFor: z.enum(['worker']).nullable(),
        }),
      )
      .optional(),
    workers: z.array(workerHeartbeatSchema),
    at: z.iso.datetime(),
  })
  .meta({ id: 'QueueSnapshot' });
export type QueueSnapshot = z.infer<typeof queueSnapshotSchema>;

export const percentilesSchema = z
  .object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() })
  .meta({ id: 'Percentiles', description: 'Milliseconds; null when no job finished in the bucket.' });
export type Percentiles = z.infer<typeof percentilesSchema>;

export const statsBucketSchema = z.object({
  /** Start of the bucket. */
  start: z.iso.datetime(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  /** Finished jobs per second over the bucket. */
  throughput: z.number(),
  queueWaitMs: percentilesSchema,
  inferenceMs: percentilesSchema,
  endToEndMs: percentilesSchema,
});
export type StatsBucket = z.infer<typeof statsBucketSchema>;

/** Throughput and latency of jobs that finished in a window, in equal buckets, from Postgres. */
export const statsSeriesSchema = z
  .object({
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    bucketSeconds: z.number().int(),
    buckets: z.array(statsBucketSchema),
    /** The whole window at once. */
    totals: statsBucketSchema.omit({ start: true }),
  })
  .meta({ id: 'StatsSeries' });
export type StatsSeries = z.infer<typeof statsSeriesSchema>;
