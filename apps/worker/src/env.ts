import { availableParallelism, hostname } from 'node:os';
import { z } from 'zod';
import { commonEnvSchema, defaultInferenceJobPolicy, envBoolean, envPortList, parseEnv } from '@inferq/core';
import { enginePreferences, onnxProviderPreferences } from '@inferq/inference';
import { blobStoreEnvShape } from '@inferq/storage';

/** A count from 1 to 256 (threads, jobs in a batch or a call); unset, the engine's default. */
const optionalCount = z.coerce.number().int().min(1).max(256).optional();

/**
 * Every setting of the worker, parsed once at boot. Nothing else reads process.env. The `.describe()`
 * texts are the settings page (`pnpm docs:settings`).
 */
export const workerEnvSchema = commonEnvSchema
  .extend({
    GC_BUFFERS_IN_HEAP_LIMIT: envBoolean
      .default(true)
      .describe(
        "Count buffers (inputs, decoded pixels, model inputs) in V8's heap limit rather than against its fixed 64 MB external budget, so they are reclaimed by the collections that run anyway instead of a full mark-compact every 20 or so image jobs: about 4 ms less CPU per 1024×768 job here, for about 150 MB more peak memory per worker process (`countBuffersInHeapLimit`, `pnpm bench e2e`). The API does not set it: there it measured 2–7 ms more per job. `false`: V8's default.",
      ),
    ...blobStoreEnvShape,
    WORKER_MODELS: z
      .string()
      .default('*')
      .describe(
        'Comma-separated model names to serve, or `*` for every model in the registry (a model published later under a new name included).',
      ),
    TF_BACKEND: z
      .enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'])
      .default('auto')
      .describe(
        'The TF.js backend: `tensorflow-gpu`, `tensorflow`, `wasm`, `cpu`, or `auto` (the first that loads, in that order).',
      ),
    ORT_PROVIDER: z
      .enum(onnxProviderPreferences)
      .default('auto')
      .describe(
        "ONNX Runtime's execution provider: `tensorrt`, `cuda`, `webgpu`, `cpu`, `auto` (the first that starts of tensorrt > cuda > webgpu > cpu; webgpu only where a GPU device node exists), or `none` (TF.js serves everything). A named provider must start or the worker does not boot. See [engines](../models/engines.md).",
      ),
    /**
     * Unset: 1, and a host's cores are used by worker processes (WORKER_PROCESSES=auto): `pnpm bench
     * raw --threads 1,2` measured 2 processes × 1 thread at 38 images/s against 1 process × 2
     * threads at 13 (nsfw, 2 cores).
     */
    ORT_INTRA_OP_THREADS: optionalCount.describe(
      "Threads one ONNX Runtime call uses on the CPU; unset, 1 (a host's cores are used by worker processes: `WORKER_PROCESSES`).",
    ),
    INFERENCE_ENGINE: z
      .enum(enginePreferences)
      .default('auto')
      .describe(
        'Which engine serves a version both can run: `auto` (ONNX Runtime when it started and the version has `model.onnx`), `onnxruntime`, `tfjs`.',
      ),
    WORKER_ID: z
      .string()
      .default(`${hostname()}-${process.pid}`)
      .meta({ description: "The worker's name in logs, heartbeats and job rows.", defaultText: '<hostname>-<pid>' }),
    WORKER_PORT: z.coerce
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(3001)
      .describe(
        "Port of the worker's health and metrics endpoint (`/healthz`, `/readyz`, `/metrics`); `0` picks a free one.",
      ),
    WORKER_HOST: z
      .string()
      .default('127.0.0.1')
      .describe(
        'Address of the health and metrics endpoint. Loopback by default; set `0.0.0.0` where probes or scrapers reach it from outside (the Kubernetes deployment does).',
      ),
    METRICS_TOKEN: z
      .string()
      .min(16)
      .optional()
      .describe(
        "The API's token: when set, the worker's `GET /metrics` needs `Authorization: Bearer <token>` too (`/healthz` and `/readyz` stay open to probes; `/readyz` shows no absolute file path).",
      ),
    MAX_BATCH_SIZE: optionalCount.describe(
      "Largest batch run through a model whose manifest sets no `limits.maxBatchSize`; unset, the engine's default (`packages/inference/src/batchingDefaults.ts`: onnxruntime-cpu 4, cuda/tensorrt 64, webgpu 32; TF.js wasm and cpu 1, tensorflow 8, tensorflow-gpu 32).",
    ),
    MAX_BATCH_DELAY_MS: z.coerce
      .number()
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe(
        "How long the first job of a batch waits for others to fill it (the manifest's `limits.maxDelayMs` wins); unset, the engine's default (0 to 10 ms).",
      ),
    MODEL_CALL_SIZE: optionalCount.describe(
      "Most jobs in one call of the engine, for an image model whose manifest sets no `limits.maxBatchSize`: a larger batch runs as several calls, one after another, and is still taken, started and written as one. Unset, the engine's default while `MAX_BATCH_SIZE` is unset too: 1 on onnxruntime-cpu, where a call of n images of a large model costs more than n calls of one (nsfw on one thread: 8.0 ms an image at 1, 9.5 at 4; `pnpm bench raw` shows a model's curve on your machine); otherwise the whole batch (GPUs, TF.js, a batch size set here or in the manifest, where small models gain from large calls).",
    ),
    MODEL_WATCH_INTERVAL_MS: z.coerce
      .number()
      .int()
      .min(100)
      .default(2000)
      .describe(
        "How often each served model's live version is checked (hot swap), and under `WORKER_MODELS=*` new models are found.",
      ),
    PINNED_VERSION_IDLE_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(60_000)
      .describe('A version loaded for pinned jobs (not live) is disposed after this long unused.'),
    WORKER_PROCESSES: z
      .union([z.literal('auto'), z.coerce.number().int().min(1).max(256)])
      .default('auto')
      .transform((value) => (value === 'auto' ? availableParallelism() : value))
      .describe(
        'Worker processes on this host: `auto` is one per core; more than 1 makes this process a supervisor that forks them (`<WORKER_ID>-1`, `-2`, …, health ports `WORKER_PORT`, `+1`, …) and restarts any that die. Each runs ONNX Runtime on one thread, so the model can use every core while the API idles (nsfw on 2 cores: 54.6 jobs/s with `auto` against 46.0 with 1). A pod given one core sets `1`.',
      ),
    WORKER_CONCURRENCY: z.coerce
      .number()
      .int()
      .min(1)
      .max(1024)
      .optional()
      .describe(
        "Jobs of one model held at once (one batch running, the next one gathering); unset, max(2, 2 × that model's batch size).",
      ),
    SHADOW_CONCURRENCY: z.coerce
      .number()
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe(
        "Shadow runs (a traffic split's `shadow` version) of one model held at once; each starts only while this worker holds no primary job of that model, so shadows use idle capacity only.",
      ),
    SHADOW_IDLE_MS: z.coerce
      .number()
      .int()
      .min(0)
      .max(60_000)
      .default(100)
      .describe(
        'How long a model must have had no primary job on this worker before a shadow run of it starts: shadows run in the lulls, and under steady traffic wait (or are dropped past `SHADOW_BACKLOG_MAX`).',
      ),
    /** 15 s is 100 batches of a 150 ms model; test/faults/hungWorker.test.ts measures the hand-over. */
    LOCK_DURATION_MS: z.coerce
      .number()
      .int()
      .min(1000)
      .default(15_000)
      .describe(
        "Lock on a running job, renewed every half of it while the worker's event loop runs. A frozen or crashed worker's jobs run on another worker within `LOCK_DURATION_MS` + `STALLED_INTERVAL_MS` (20 s). It must outlast the longest model batch, which holds the event loop.",
      ),
    STALLED_INTERVAL_MS: z.coerce
      .number()
      .int()
      .min(1000)
      .default(5_000)
      .describe('How often a worker looks for jobs whose lock expired (stalled) and hands them out again.'),
    SHUTDOWN_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('How long running jobs get on SIGTERM.'),
    HEARTBEAT_INTERVAL_MS: z.coerce
      .number()
      .int()
      .min(100)
      .default(2000)
      .describe(
        "How often the worker announces itself to operators (a Redis key with a TTL: the dashboard's worker list, `GET /v1/models`).",
      ),
    HEARTBEAT_TTL_MS: z.coerce
      .number()
      .int()
      .min(500)
      .default(5000)
      .describe('How soon a worker that stopped without a word leaves the list.'),
    JOB_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .min(1)
      .default(defaultInferenceJobPolicy.timeoutMs)
      .describe(
        'Longest preprocessing + inference of one attempt, for models whose manifest sets no `limits.timeoutMs`; then the job fails with `TIMEOUT`.',
      ),
    RESULT_WRITE_RETRY_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(60_000)
      .describe('How long a computed result keeps being written while Postgres is down.'),
    RECONCILE_INTERVAL_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe(
        'Time between reconciliation and retention passes (one worker runs them, elected in Redis); `0` turns them off.',
      ),
    RECONCILE_GRACE_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe('Unfinished jobs younger than this are left alone by reconciliation.'),
    RECONCILE_MAX_AGE_MS: z.coerce
      .number()
      .int()
      .min(1000)
      .default(24 * 3600 * 1000)
      .describe('A job lost from the queue and older than this fails with `JOB_LOST` instead of being enqueued again.'),
    NO_WORKER_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(3600 * 1000)
      .describe(
        'A queued job whose model no live worker serves waits (`waitingFor: "worker"`); older than this the reconciler fails it with `NO_WORKER`. `0` waits for ever.',
      ),
    ICC_TABLES: z.coerce
      .number()
      .int()
      .min(0)
      .max(16)
      .default(2)
      .describe(
        "How many ICC profiles' conversion tables to sRGB each worker process keeps (48 MiB each), for models whose pixels are resized with aligned corners (nsfw): a JPEG that carries a kept profile (Display P3, an embedded sRGB) is decoded by libjpeg-turbo and only the pixels the resize reads are converted, the same values as sharp's conversion of the whole image at a third to a half of the CPU. A profile's table is made in the background once a second image carries it (past the first `ICC_TABLES` of them, at most one every 30 s); until then, and for other files, sharp decodes. `0`: no tables.",
      ),
    WORKER_NICE: z.coerce
      .number()
      .int()
      .min(-20)
      .max(19)
      .default(10)
      .describe(
        "Scheduling priority (nice, -20..19) of the worker and the threads it starts (sharp's decoders): inference yields the CPU to the API, Postgres and Redis when they share cores, and takes every idle cycle. `0` keeps the inherited priority: on a 2-core host that shares the API, 7% more jobs/s, but behind a full queue the API answered submits in seconds instead of milliseconds ([benchmarks](../benchmarks.md)).",
      ),
    TTL_SWEEP_INTERVAL_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(5000)
      .describe(
        'How often (ms) the elected worker moves queued jobs past their ttlSeconds to `expired`, between reconciliation passes; 0: only in those passes.',
      ),
    ROLLOUT_WEBHOOK_URL: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(
        "Where the model.rolled_back webhook goes when the reconciler takes a candidate version off a traffic split (the administrators' endpoint). Unset: rollbacks are recorded and shown, not sent.",
      ),
    ROLLOUT_WEBHOOK_SECRET: z
      .string()
      .min(24)
      .optional()
      .describe(
        'Signs the model.rolled_back webhook (Standard Webhooks, a whsec_<base64> secret; also InferQ-Signature). Required with ROLLOUT_WEBHOOK_URL.',
      ),
    ROLLOUT_WEBHOOK_ALLOW_LOOPBACK: envBoolean
      .default(false)
      .describe('Development and tests only: let the model.rolled_back webhook go to a loopback address over http.'),
    ROLLOUT_WEBHOOK_ALLOW_PORTS: envPortList
      .default([])
      .describe('Ports the model.rolled_back webhook URL may name besides 80 and 443, comma-separated.'),
    HISTORY_RETENTION_DAYS: z.coerce
      .number()
      .int()
      .min(0)
      .max(3660)
      .default(30)
      .describe(
        'Days the per-model history (one row per model and minute: counts, queue waits, the oldest waiting job, workers) is kept in Postgres; written by the reconciler leader. 0: no history is written.',
      ),
  })
  .superRefine((env, ctx) => {
    if (env.ROLLOUT_WEBHOOK_URL !== undefined && env.ROLLOUT_WEBHOOK_SECRET === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['ROLLOUT_WEBHOOK_SECRET'],
        message: 'is required with ROLLOUT_WEBHOOK_URL',
      });
    }
    if (env.ROLLOUT_WEBHOOK_ALLOW_LOOPBACK && env.NODE_ENV === 'production') {
      ctx.addIssue({
        code: 'custom',
        path: ['ROLLOUT_WEBHOOK_ALLOW_LOOPBACK'],
        message: 'must not be set in production',
      });
    }
  });

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export function parseWorkerEnv(source: NodeJS.ProcessEnv): WorkerEnv {
  return parseEnv(workerEnvSchema, 'worker', source);
}
