import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { closeInOrder, type ShutdownStep } from '@inferq/core/shutdown';
import {
  createDatabase,
  JobExecution,
  JobMaintenance,
  ModelHistoryStore,
  pingDatabase,
  ShadowResults,
} from '@inferq/db';
import {
  batchingDefaults,
  createInferenceEngines,
  ModelPool,
  onnxBatchingDefaults,
  tensorMemory,
  type OnnxRuntimeInfo,
} from '@inferq/inference';
import { ModelRegistry } from '@inferq/models';
import { createWorkerMetrics } from '@inferq/metrics';
import {
  createRedisConnection,
  InferenceQueue,
  isRedisReady,
  JobEventPublisher,
  pingRedis,
  PixelStore,
  ServedModels,
  WorkerHeartbeatLoop,
  WorkerRegistry,
  workersByModel,
} from '@inferq/queue';
import { HistoryRecorder, LeaderLock, Reconciler } from '@inferq/reconciler';
import { rollbackWebhook, RolloutGuard, VersionComparison } from '@inferq/rollout';
import { blobStoreSettingsFromEnv, createBlobStore } from '@inferq/storage';
import { createTracing } from '@inferq/tracing';
import { WebhookSender } from '@inferq/webhooks';
import type { WorkerEnv } from './env.ts';
import { HealthServer } from './healthServer.ts';
import { InferenceWorker } from './inferenceWorker.ts';
import { JobPipeline } from '@inferq/pipeline';

/** One worker process's pieces, built from its settings; `start()` brings it to taking jobs. */
export interface WorkerServices {
  health: HealthServer;
  /**
   * Starts the health endpoint, picks the inference engines, loads and warms up the models, then
   * takes their jobs and starts the reconciler and the heartbeat. Resolves once jobs are taken.
   */
  start(): Promise<{ healthPort: number; models: ReturnType<ModelPool['describe']> }>;
  /** How the process stops, in order: heartbeat and reconciler, running jobs finished, then the rest (the pieces not started yet are skipped). */
  closers: ShutdownStep[];
  /** Runs `closers` (a test's or a caller's stop; the process stops through handleShutdown). */
  close(): Promise<void>;
}

/**
 * Builds every piece of one worker process from its settings (parsed once in index.ts). What
 * depends on the inference backend (the model pool, the worker, the reconciler) is built in
 * `start()`, once the backend is known; until then the health endpoint answers, not ready.
 */
export function buildWorkerServices(env: WorkerEnv, logger: Logger): WorkerServices {
  const db = createDatabase({ url: env.DATABASE_URL, poolSize: 4 });
  const redis = createRedisConnection({
    url: env.REDIS_URL,
    role: 'consumer',
    connectionName: `inferq-worker-${env.WORKER_ID}`,
  });
  redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
  // The producer side (fails fast while Redis is down): readiness pings, heartbeats, job events,
  // the reconciler's queue and lock. The Worker's own connection above waits instead.
  const producerConnection = createRedisConnection({
    url: env.REDIS_URL,
    role: 'producer',
    connectionName: `inferq-worker-producer-${env.WORKER_ID}`,
  });
  producerConnection.on('error', () => {});
  // The producer queue's BullMQ side on a connection of its own: the scripts BullMQ defines on its
  // connection would make every pipeline of the job events there ten times dearer (see
  // InferenceQueueOptions).
  const queueConnection = createRedisConnection({
    url: env.REDIS_URL,
    role: 'producer',
    connectionName: `inferq-worker-queues-${env.WORKER_ID}`,
  });
  queueConnection.on('error', () => {});
  // Producer side of the queue for the reconciler (re-enqueues) and the queue-depth gauge.
  // The registry's models are the queues the reconciler and the depth gauge look at.
  const registry = new ModelRegistry({ root: env.MODELS_DIR });
  const producerQueue = new InferenceQueue({
    connection: producerConnection,
    bullmqConnection: queueConnection,
    name: env.QUEUE_NAME,
    prefix: env.QUEUE_PREFIX,
    models: async () => (await registry.list()).map((model) => model.name),
  });
  // The pool is built once the backend is known (its batching defaults depend on it); until then
  // the health endpoint answers, not ready, with no models.
  let models: ModelPool | undefined = undefined;
  // Whether the worker takes a model's jobs (false until it is built): /readyz and the heartbeat
  // list only those models, so no view says a model is served that no queue is taken for.
  let takesJobsOf: (model: string) => boolean = () => false;
  const metrics = createWorkerMetrics({
    queueCounts: () => producerQueue.countsByModel(),
    loadedModels: () => models?.describe() ?? [],
  });

  let backendName = 'initializing';
  let backendDetails: Record<string, unknown> | undefined = undefined;
  let onnxRuntime: OnnxRuntimeInfo | null = null;
  /** What /readyz, the heartbeat and GET /v1/models show of ONNX Runtime: the provider, and why better ones were skipped. */
  const onnxRuntimeView = () => {
    if (onnxRuntime === null) return { provider: null, preference: env.ORT_PROVIDER, skipped: [] };
    const { provider, intraOpThreads, skipped, version } = onnxRuntime;
    return { provider, preference: env.ORT_PROVIDER, intraOpThreads, version, skipped };
  };
  const health = new HealthServer({
    host: env.WORKER_HOST,
    port: env.WORKER_PORT,
    checks: {
      postgres: () => pingDatabase(db),
      // Both connections: the worker's own (blocking commands) and the one that pings.
      redis: async () => isRedisReady(redis) && (await pingRedis(producerConnection)),
      model: () => models?.ready ?? false,
    },
    describe: () => ({
      workerId: env.WORKER_ID,
      backend: backendName,
      backendPreference: env.TF_BACKEND,
      ...(backendDetails ? { backendDetails } : {}),
      onnxRuntime: onnxRuntimeView(),
      models: models?.describe().filter(({ name }) => takesJobsOf(name)) ?? [],
      failedModels: models?.failures() ?? [],
      tensors: tensorMemory().numTensors,
    }),
    metrics: metrics.registry,
    metricsToken: env.METRICS_TOKEN,
  });

  // Off (a shared no-op) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const tracing = createTracing({ serviceName: 'inferq-worker', otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  const execution = new JobExecution(db);
  const blobSettings = blobStoreSettingsFromEnv(env);
  // The same store as the API's: the worker reads the inputs it wrote, the reconciler deletes them.
  const blobs = blobSettings ? createBlobStore(blobSettings) : undefined;
  const workerRegistry = new WorkerRegistry({
    connection: producerConnection,
    prefix: env.QUEUE_PREFIX,
    ttlMs: env.HEARTBEAT_TTL_MS,
  });
  const servedModels = new ServedModels({ registry: workerRegistry, queue: env.QUEUE_NAME });

  // Built in start(), once the backend is known.
  let worker: InferenceWorker | undefined;
  let reconciler: Reconciler | undefined;
  let heartbeat: WorkerHeartbeatLoop | undefined;

  async function start() {
    const healthAddress = await health.start();
    logger.info({ port: healthAddress.port }, 'worker health endpoint listening');

    // The engines, made here once and passed to the pool: TF.js, and ONNX Runtime beside it (versions
    // with an ONNX file run on it, several times faster on the CPU, the others on TF.js). A named
    // backend or provider that does not start fails the boot.
    const engines = await createInferenceEngines({
      tfjsBackend: env.TF_BACKEND,
      onnxProvider: env.ORT_PROVIDER,
      intraOpThreads: env.ORT_INTRA_OP_THREADS ?? 1,
      logger,
    });
    const backend = engines.tfjs;
    backendName = backend.name;
    backendDetails = {
      tfjsBackend: backend.tfjsBackend,
      ...(backend.wasm ? { wasm: backend.wasm } : {}),
      ...(backend.gpu !== undefined ? { gpu: backend.gpu } : {}),
      skipped: backend.skipped,
    };
    onnxRuntime = engines.onnx?.info ?? null;
    const ort = onnxRuntime;
    // Batch settings by the engine a version runs on (manifest limits and MAX_BATCH_* win).
    const batchingFor = (engine: string) => {
      const defaults =
        ort && engine === ort.engine ? onnxBatchingDefaults[ort.provider] : batchingDefaults[backend.name];
      return {
        maxBatchSize: env.MAX_BATCH_SIZE ?? defaults.maxBatchSize,
        maxDelayMs: env.MAX_BATCH_DELAY_MS ?? defaults.maxDelayMs,
        // The engine's call size goes with its batch size: a batch set here is sized as whole calls.
        callSize: env.MODEL_CALL_SIZE ?? (env.MAX_BATCH_SIZE === undefined ? defaults.callSize : undefined),
      };
    };
    logger.info(
      { backend: backend.name, wasm: backend.wasm, onnxRuntime: onnxRuntimeView() },
      'inference engines selected',
    );
    const pool = new ModelPool({
      registry,
      logger,
      engines,
      engine: env.INFERENCE_ENGINE,
      batching: batchingFor,
      pinnedIdleMs: env.PINNED_VERSION_IDLE_MS,
      onBatch: ({ model, size, inferenceMs, waitsMs }) => {
        metrics.batchSize.observe({ model }, size);
        metrics.inferenceDuration.observe({ model }, inferenceMs / 1000);
        for (const waitMs of waitsMs) metrics.batchWait.observe({ model }, waitMs / 1000);
      },
    });
    models = pool;
    await pool.load(
      env.WORKER_MODELS === '*'
        ? '*'
        : env.WORKER_MODELS.split(',')
            .map((name) => name.trim())
            .filter(Boolean),
    );
    // Hot swap: a new live version is loaded and warmed up beside the old one, then switched to.
    pool.watch(env.MODEL_WATCH_INTERVAL_MS);

    // One publisher for the job path's and the reconciler's events: they share its pipelined writes.
    const events = new JobEventPublisher({
      connection: producerConnection,
      prefix: env.QUEUE_PREFIX,
      retentionMs: env.EVENTS_RETENTION_MS,
      maxLength: env.EVENTS_MAX_LENGTH,
    });
    // The job path (claim, load inputs, preprocess, batch, run, record); the worker below is its queue wiring.
    const pipeline = new JobPipeline({
      execution,
      blobs,
      models: pool,
      logger,
      workerId: env.WORKER_ID,
      events,
      // The pixels the API's validating decode made: those jobs are neither read nor decoded here.
      pixels: new PixelStore({ connection: producerConnection, prefix: env.QUEUE_PREFIX }),
      jobTimeoutMs: env.JOB_TIMEOUT_MS,
      resultWriteRetryMs: env.RESULT_WRITE_RETRY_MS,
      metrics,
      tracing,
      shadowResults: new ShadowResults(db),
    });
    const inferenceWorker = new InferenceWorker({
      connection: redis,
      pipeline,
      models: pool,
      logger,
      queueName: env.QUEUE_NAME,
      prefix: env.QUEUE_PREFIX,
      // One queue per model: this worker takes jobs only of the models the pool has loaded, and
      // follows it (a model loaded later by a retry or under `*`, a model dropped from the registry).
      // Per model, what its batcher can use: one batch running and the next one gathering (preprocessing
      // overlaps inference); a worker serving a batch-32 model and a batch-1 one holds 64 and 2.
      concurrency: (model) =>
        env.WORKER_CONCURRENCY ??
        Math.max(2, 2 * (pool.describe().find((entry) => entry.name === model)?.batching.maxBatchSize ?? 1)),
      lockDurationMs: env.LOCK_DURATION_MS,
      stalledIntervalMs: env.STALLED_INTERVAL_MS,
      shadowConcurrency: env.SHADOW_CONCURRENCY,
      shadowIdleMs: env.SHADOW_IDLE_MS,
    });
    worker = inferenceWorker;
    inferenceWorker.start();
    takesJobsOf = (model) => inferenceWorker.consumes(model);
    reconciler =
      env.RECONCILE_INTERVAL_MS > 0
        ? new Reconciler({
            execution,
            blobs,
            maintenance: new JobMaintenance(db),
            queue: producerQueue,
            lock: new LeaderLock({
              connection: producerConnection,
              key: `${env.QUEUE_PREFIX}:${env.QUEUE_NAME}:reconciler-leader`,
              owner: env.WORKER_ID,
              ttlMs: Math.max(3 * env.RECONCILE_INTERVAL_MS, 3000),
            }),
            logger: logger.child({ component: 'reconciler' }),
            intervalMs: env.RECONCILE_INTERVAL_MS,
            graceMs: env.RECONCILE_GRACE_MS,
            maxAgeMs: env.RECONCILE_MAX_AGE_MS,
            servedModels: () => servedModels.current(),
            noWorkerTimeoutMs: env.NO_WORKER_TIMEOUT_MS,
            ttlSweepIntervalMs: env.TTL_SWEEP_INTERVAL_MS,
            history:
              env.HISTORY_RETENTION_DAYS > 0
                ? new HistoryRecorder({
                    store: new ModelHistoryStore(db),
                    workersByModel: async () => workersByModel(await workerRegistry.list(), env.QUEUE_NAME),
                    retentionMs: env.HISTORY_RETENTION_DAYS * 24 * 3600_000,
                  })
                : undefined,
            metrics,
            events,
            rollout: new RolloutGuard({
              registry,
              comparison: new VersionComparison(db),
              db,
              logger: logger.child({ component: 'rollout' }),
              ...(env.ROLLOUT_WEBHOOK_URL !== undefined && env.ROLLOUT_WEBHOOK_SECRET !== undefined
                ? {
                    notify: rollbackWebhook({
                      url: env.ROLLOUT_WEBHOOK_URL,
                      secret: env.ROLLOUT_WEBHOOK_SECRET,
                      sender: new WebhookSender({
                        allowLoopback: env.ROLLOUT_WEBHOOK_ALLOW_LOOPBACK,
                        allowPorts: env.ROLLOUT_WEBHOOK_ALLOW_PORTS,
                      }),
                    }),
                  }
                : {}),
            }),
          })
        : undefined;
    reconciler?.start();
    const startedAt = new Date().toISOString();
    heartbeat = new WorkerHeartbeatLoop({
      registry: workerRegistry,
      intervalMs: env.HEARTBEAT_INTERVAL_MS,
      describe: () => ({
        workerId: env.WORKER_ID,
        host: hostname(),
        pid: process.pid,
        backend: backendName,
        onnxRuntime: onnxRuntimeView(),
        queue: env.QUEUE_NAME,
        models: pool
          .describe()
          .filter(({ name }) => takesJobsOf(name))
          .map(({ name, version, engine, loaded, loadMs, swap }) => ({ name, version, engine, loaded, loadMs, swap })),
        failedModels: pool.failures(),
        currentBatch: pool.currentBatch,
        activeJobs: inferenceWorker.activeJobs,
        jobs: inferenceWorker.modelJobs(),
        jobsSucceeded: inferenceWorker.stats.succeeded,
        jobsFailed: inferenceWorker.stats.failed,
        startedAt,
        heartbeatAt: new Date().toISOString(),
      }),
    });
    heartbeat.start();
    return { healthPort: healthAddress.port, models: pool.describe() };
  }

  const closers: ShutdownStep[] = [
    { name: 'heartbeat', close: () => heartbeat?.stop() },
    { name: 'reconciler', close: () => reconciler?.stop() },
    { name: 'worker', close: () => worker?.close() },
    // The spans of the last jobs are sent before the process exits.
    { name: 'tracing', close: () => tracing.shutdown() },
    { name: 'queue', close: () => producerQueue.close() },
    { name: 'health', close: () => health.stop() },
    { name: 'models', close: () => models?.dispose() },
    {
      name: 'redis',
      close: () => {
        redis.disconnect();
        producerConnection.disconnect();
        queueConnection.disconnect();
      },
    },
    { name: 'postgres', close: () => db.$disconnect() },
    { name: 'blob store', close: () => blobs?.close() },
  ];
  return { health, start, closers, close: () => closeInOrder(closers, 'close', logger) };
}
