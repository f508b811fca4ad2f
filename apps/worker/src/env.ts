import { availableParallelism, hostname } from 'node:os';
import { z } from 'zod';
import { commonEnvSchema, defaultInferenceJobPolicy, parseEnv } from '@inferq/core';
import { enginePreferences, onnxProviderPreferences } from '@inferq/inference';

/** Every setting of the worker, parsed once at boot. Nothing else reads process.env. */
export const workerEnvSchema = commonEnvSchema.extend({
  /** Comma-separated model names to serve, or `*` for every model in the registry. */
  WORKER_MODELS: z.string().default('*'),
  /** tensorflow-gpu, tensorflow, wasm, cpu or auto (the best that loads). */
  TF_BACKEND: z.enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  /**
   * ONNX Runtime's execution provider: tensorrt, cuda, webgpu, cpu, auto (the best that starts:
   * tensorrt > cuda > webgpu > cpu), or none (no ONNX Runtime: TF.js serves everything).
   */
  ORT_PROVIDER: z.enum(onnxProviderPreferences).default('auto'),
  /**
   * Threads one ONNX Runtime call uses on the CPU. Unset: 1, and a host's cores are used by
   * worker processes (WORKER_PROCESSES=auto): `pnpm bench raw --threads 1,2` measured 2 processes
   * × 1 thread at 38 images/s against 1 process × 2 threads at 13 (nsfw, 2 cores).
   */
  ORT_INTRA_OP_THREADS: z.coerce.number().int().min(1).max(256).optional(),
  /** Which engine serves a version both can run: auto (ONNX Runtime when it started and the version has model.onnx), onnxruntime, tfjs. */
  INFERENCE_ENGINE: z.enum(enginePreferences).default('auto'),
  WORKER_ID: z.string().default(`${hostname()}-${process.pid}`),
  /** Port of the worker's health and metrics endpoint; 0 picks a free one. */
  WORKER_PORT: z.coerce.number().int().min(0).max(65535).default(3001),
  /**
   * Address of the health and metrics endpoint. Loopback by default: /readyz and /metrics are for
   * the host's probes and scrapers; set 0.0.0.0 where they come from outside (a Kubernetes pod).
   */
  WORKER_HOST: z.string().default('127.0.0.1'),
  /**
   * When set, the worker's GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`, the same
   * token as the API's (at least 16 characters). Unset: /metrics is open to whoever reaches WORKER_HOST.
   */
  METRICS_TOKEN: z.string().min(16).optional(),
  /** Largest batch run through the model at once. */
  MAX_BATCH_SIZE: z.coerce.number().int().min(1).max(256).optional(),
  /** How long the first job of a batch waits for others. */
  MAX_BATCH_DELAY_MS: z.coerce.number().int().min(0).max(1000).optional(),
  /** How often the registry is checked for a new live version of each served model (hot swap). */
  MODEL_WATCH_INTERVAL_MS: z.coerce.number().int().min(100).default(2000),
  /** A version loaded for pinned jobs (not live) is disposed after this long unused. */
  PINNED_VERSION_IDLE_MS: z.coerce.number().int().min(0).default(60_000),
  /**
   * Worker processes on this host: 1 runs here; more makes this process a supervisor that starts
   * that many and restarts any that die; `auto` (the default) is one per core. Each runs ONNX
   * Runtime on one thread, so the model can use every core while the API idles: `pnpm bench e2e`
   * (nsfw, 2 cores) measured 54.6 jobs/s with `auto` (2) against 46.0 with 1. A pod that is given
   * one core sets 1.
   */
  WORKER_PROCESSES: z
    .union([z.literal('auto'), z.coerce.number().int().min(1).max(256)])
    .default('auto')
    .transform((value) => (value === 'auto' ? availableParallelism() : value)),
  /** Jobs taken from the queue at once; must be at least the batch size for batches to form. */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1024).optional(),
  /**
   * Lock on a running job, renewed every half of it while the worker's event loop runs. A frozen
   * or crashed worker's jobs go to another worker within LOCK_DURATION_MS + STALLED_INTERVAL_MS
   * (20 s by default, was 60 s; test/faults/hungWorker.test.ts measures it). The lock must
   * outlast the longest model batch, which holds the event loop: 15 s is 100 batches of a
   * 150 ms model.
   */
  LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(15_000),
  /** How often a worker looks for jobs whose lock expired (stalled) and hands them out again. */
  STALLED_INTERVAL_MS: z.coerce.number().int().min(1000).default(5_000),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /** How often the worker announces itself to operators (the dashboard's worker list). */
  HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).default(2000),
  /** A worker that stopped without saying so disappears from the list after this long. */
  HEARTBEAT_TTL_MS: z.coerce.number().int().min(500).default(5000),
  /** Longest preprocessing + inference of one attempt (models whose manifest sets no limits.timeoutMs); then TIMEOUT. */
  JOB_TIMEOUT_MS: z.coerce.number().int().min(1).default(defaultInferenceJobPolicy.timeoutMs),
  /** How long a computed result keeps being written while Postgres is down. */
  RESULT_WRITE_RETRY_MS: z.coerce.number().int().min(0).default(60_000),
  /** Time between reconciliation and retention passes (one worker runs them, elected in Redis); 0 turns them off. */
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(0).default(30_000),
  /** Jobs younger than this are never touched by reconciliation. */
  RECONCILE_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  /** A job lost from the queue and older than this is failed with JOB_LOST instead of re-enqueued. */
  RECONCILE_MAX_AGE_MS: z.coerce.number().int().min(1000).default(24 * 3600 * 1000),
  /**
   * A queued job whose model no live worker serves waits (its view says `waitingFor: "worker"`);
   * older than this it is failed with NO_WORKER by the reconciler. 0: it waits for ever.
   */
  NO_WORKER_TIMEOUT_MS: z.coerce.number().int().min(0).default(3600 * 1000),
  HISTORY_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3660)
    .default(30)
    .describe('Days the per-model history (one row per model and minute: counts, queue waits, the oldest waiting job, workers) is kept in Postgres; written by the reconciler leader. 0: no history is written.'),
  /**
   * Scheduling priority (nice, -20..19) of the worker process and the threads it starts (sharp's
   * decoders). Inference is batch work: where it shares cores with the API, Postgres and Redis, a
   * higher value keeps their answers fast while the model keeps every idle cycle. 0 keeps the
   * priority the process was started with.
   */
  WORKER_NICE: z.coerce.number().int().min(-20).max(19).default(10),
});

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export function parseWorkerEnv(source: NodeJS.ProcessEnv): WorkerEnv {
  return parseEnv(workerEnvSchema, 'worker', source);
}
