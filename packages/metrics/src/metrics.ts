import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of the platform. Each process builds one set on its own registry (never
 * prom-client's global one), so several apps can live in one test process without clashing, and
 * serves it on `/metrics`. Label values are bounded: model names come from the registry, codes
 * from the closed list in `@inferq/core`, routes are Express route templates.
 */
export interface MetricsOptions {
  /** Where the metrics are registered. @defaultValue a new Registry */
  registry?: Registry;
  /**
   * prom-client's default metrics: process memory and CPU, heap, GC, event-loop lag.
   * @defaultValue true
   */
  defaultMetrics?: boolean;
  /** Labels added to every series, e.g. `{ service: 'api' }`. @defaultValue none */
  labels?: Record<string, string>;
}

/** Job counts by model (each model has its own queue), then by BullMQ state; read when Prometheus scrapes. */
export type QueueCountsSource = () => Promise<Record<string, Record<string, number>>>;

/** Job outcomes, shared by the API (canceled) and the worker (succeeded, failed). */
export type JobFinishStatus = 'succeeded' | 'failed' | 'canceled' | 'expired';

const secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const waitBuckets = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const batchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

function newRegistry(options: MetricsOptions): Registry {
  const registry = options.registry ?? new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

function jobsFinished(registry: Registry) {
  return new Counter({
    name: 'inferq_jobs_finished_total',
    help: 'Jobs that reached a final state, by model, status and error code ("" when none).',
    labelNames: ['model', 'status', 'code'] as const,
    registers: [registry],
  });
}

/**
 * A gauge of queue depth by model and BullMQ state, read from Redis at scrape time. BullMQ keeps a
 * job that has a priority (every job here) in `prioritized`, not `waiting`: what is queued is both.
 * While Redis does not answer within `timeoutMs` the gauge is left empty rather than showing stale
 * numbers.
 */
function queueDepth(registry: Registry, source: QueueCountsSource | undefined, timeoutMs = 1000) {
  return new Gauge({
    name: 'inferq_queue_jobs',
    help: "Jobs in each model's inference queue by BullMQ state (waiting, prioritized, active, delayed, completed, failed, …).",
    labelNames: ['model', 'state'] as const,
    registers: [registry],
    async collect() {
      if (!source) return;
      let timer: NodeJS.Timeout | undefined;
      try {
        const counts = await Promise.race([
          source(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('queue counts timed out')), timeoutMs);
          }),
        ]);
        this.reset();
        for (const [model, byState] of Object.entries(counts)) {
          for (const [state, count] of Object.entries(byState)) this.set({ model, state }, count);
        }
      } catch {
        this.reset();
      } finally {
        clearTimeout(timer);
      }
    },
  });
}

/**
 * What the alert rules watch beyond the queue depth, read at scrape time: per model the oldest
 * queued job's creation time (Postgres) and its live workers (heartbeats), the webhook queue by
 * state, and whether Postgres and Redis answer.
 */
export interface OperatorSources {
  oldestQueued?: () => Promise<Map<string, Date>>;
  workersByModel?: () => Promise<Map<string, number> | undefined>;
  webhookCounts?: () => Promise<Record<string, number>>;
  dependencies?: () => Promise<Record<string, boolean>>;
}

/** A read bounded by `timeoutMs`: undefined when it fails or is late, so a gauge goes empty rather than stale. */
async function bounded<T>(read: (() => Promise<T>) | undefined, timeoutMs = 1000): Promise<T | undefined> {
  if (!read) return undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      read(),
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs))),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

function operatorMetrics(registry: Registry, sources: OperatorSources) {
  return {
    oldestWaiting: new Gauge({
      name: 'inferq_queue_oldest_waiting_seconds',
      help: 'Age of the oldest queued job by model (0 when none waits), from Postgres; absent while Postgres does not answer.',
      labelNames: ['model'] as const,
      registers: [registry],
      async collect() {
        const oldest = await bounded(sources.oldestQueued);
        const workers = await bounded(sources.workersByModel);
        this.reset();
        if (!oldest) return;
        const now = Date.now();
        // A served model with nothing waiting reads 0, so "no data" means the read failed.
        for (const model of workers?.keys() ?? []) this.set({ model }, 0);
        for (const [model, at] of oldest) this.set({ model }, Math.max(0, (now - at.getTime()) / 1000));
      },
    }),
    workers: new Gauge({
      name: 'inferq_model_workers',
      help: 'Live workers serving each model (heartbeats), 0 for a model that has queued jobs and none.',
      labelNames: ['model'] as const,
      registers: [registry],
      async collect() {
        const [workers, oldest] = [await bounded(sources.workersByModel), await bounded(sources.oldestQueued)];
        this.reset();
        if (!workers) return;
        for (const model of oldest?.keys() ?? []) this.set({ model }, 0);
        for (const [model, count] of workers) this.set({ model }, count);
      },
    }),
    webhookQueue: new Gauge({
      name: 'inferq_webhook_queue_jobs',
      help: "Webhook deliveries in the dispatcher's queue by BullMQ state (waiting, delayed: retrying with backoff, active, failed).",
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        const counts = await bounded(sources.webhookCounts);
        this.reset();
        for (const [state, count] of Object.entries(counts ?? {})) this.set({ state }, count);
      },
    }),
    dependencyUp: new Gauge({
      name: 'inferq_dependency_up',
      help: 'Whether the API reaches each dependency (postgres, redis) at scrape time: 1 or 0.',
      labelNames: ['dependency'] as const,
      registers: [registry],
      async collect() {
        const checks = (await bounded(sources.dependencies, 2000)) ?? {};
        this.reset();
        for (const [dependency, up] of Object.entries(checks)) this.set({ dependency }, up ? 1 : 0);
      },
    }),
  };
}

export interface ApiMetricsOptions extends MetricsOptions {
  /** Counts for `inferq_queue_jobs`; none: the gauge stays empty. */
  queueCounts?: QueueCountsSource;
  /** The alert rules' gauges (oldest waiting job, workers per model, webhook backlog, dependencies); none: they stay empty. */
  operator?: OperatorSources;
  /** The fair queues of admission, read at scrape time; none: their series stay empty. */
  admission?: AdmissionSource;
}

/** Per resource (submits, uploadBytes, decodePixels, streams): capacity, use and each user's counts. */
export type AdmissionSource = () => Record<
  string,
  | {
      capacity: number;
      inUse: number;
      waiting: number;
      flows: Array<{ flow: string; held: number; waiting: number; queued: number; refused: number }>;
    }
  | undefined
>;

/** Admission's fair queues as series: per resource, and per resource and user. */
function admissionMetrics(registry: Registry, source: AdmissionSource | undefined) {
  const read = () =>
    Object.entries(source?.() ?? {}).flatMap(([resource, snapshot]) => (snapshot ? [{ resource, snapshot }] : []));
  type Flow = NonNullable<ReturnType<AdmissionSource>[string]>['flows'][number];
  /** Each user's non-zero `pick` of each resource, as a series. */
  const perUser = (
    pick: (flow: Flow) => number,
    record: (labels: { resource: string; user: string }, value: number) => void,
  ) => {
    for (const { resource, snapshot } of read()) {
      for (const flow of snapshot.flows) {
        const value = pick(flow);
        if (value > 0) record({ resource, user: flow.flow }, value);
      }
    }
  };
  return {
    capacity: new Gauge({
      name: 'inferq_admission_capacity',
      help: 'Units of each admission resource this API process has (slots, bytes, decode cost, streams).',
      labelNames: ['resource'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const { resource, snapshot } of read()) this.set({ resource }, snapshot.capacity);
      },
    }),
    inUse: new Gauge({
      name: 'inferq_admission_in_use',
      help: 'Units of each admission resource held now, by resource and user.',
      labelNames: ['resource', 'user'] as const,
      registers: [registry],
      collect() {
        this.reset();
        perUser(
          (flow) => flow.held,
          (labels, value) => this.set(labels, value),
        );
      },
    }),
    waiting: new Gauge({
      name: 'inferq_admission_waiting',
      help: 'Requests waiting for their turn now, by resource and user.',
      labelNames: ['resource', 'user'] as const,
      registers: [registry],
      collect() {
        this.reset();
        perUser(
          (flow) => flow.waiting,
          (labels, value) => this.set(labels, value),
        );
      },
    }),
    queued: new Counter({
      name: 'inferq_admission_queued_total',
      help: 'Requests that waited for their turn, by resource and user (users idle for long drop out).',
      labelNames: ['resource', 'user'] as const,
      registers: [registry],
      collect() {
        this.reset();
        perUser(
          (flow) => flow.queued,
          (labels, value) => this.inc(labels, value),
        );
      },
    }),
    refused: new Counter({
      name: 'inferq_admission_refused_total',
      help: 'Requests refused by admission (429 CONCURRENCY_LIMITED or 503 SERVER_BUSY), by resource and user.',
      labelNames: ['resource', 'user'] as const,
      registers: [registry],
      collect() {
        this.reset();
        perUser(
          (flow) => flow.refused,
          (labels, value) => this.inc(labels, value),
        );
      },
    }),
  };
}

/** The API's metrics. `rateLimitRejections` and `jobsFinished` (canceled) are for the API's own middleware and routes to increment. */
export function createApiMetrics(options: ApiMetricsOptions = {}) {
  const registry = newRegistry(options);
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'inferq_http_request_duration_seconds',
      help: 'HTTP request duration by method, route template and status code.',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: secondsBuckets,
      registers: [registry],
    }),
    jobsSubmitted: new Counter({
      name: 'inferq_jobs_submitted_total',
      help: 'Jobs accepted (202) by model.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    /** The API increments it with status `canceled`; the worker counts succeeded and failed. */
    jobsFinished: jobsFinished(registry),
    /** Requests refused with 429; `reason` e.g. `rate`, `burst`, `quota`. */
    rateLimitRejections: new Counter({
      name: 'inferq_rate_limit_rejections_total',
      help: 'Requests refused with 429 by reason and tier.',
      labelNames: ['reason', 'tier'] as const,
      registers: [registry],
    }),
    queueDepth: queueDepth(registry, options.queueCounts),
    admission: admissionMetrics(registry, options.admission),
    operator: operatorMetrics(registry, options.operator ?? {}),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;

export interface WorkerMetricsOptions extends MetricsOptions {
  /** Counts for `inferq_queue_jobs`; none: the gauge stays empty. */
  queueCounts?: QueueCountsSource;
  /** The models loaded and how long each took, read at scrape time. */
  loadedModels?: () => Array<{ name: string; version: string; loadMs: number }>;
}

/** The worker's metrics, served by its health server. */
export function createWorkerMetrics(options: WorkerMetricsOptions = {}) {
  const registry = newRegistry(options);
  const loadedModels = options.loadedModels;
  return {
    registry,
    jobsFinished: jobsFinished(registry),
    /** Attempts that failed and will run again, by model and error code. */
    jobRetries: new Counter({
      name: 'inferq_job_retries_total',
      help: 'Job attempts that failed and will be retried, by model and error code.',
      labelNames: ['model', 'code'] as const,
      registers: [registry],
    }),
    /** Where each attempt's model input came from: pixels the API prepared, or a decode of the upload. */
    preprocessed: new Counter({
      name: 'inferq_worker_preprocessed_total',
      help: 'Model inputs made by the worker, by model and source: prepared (pixels stored at submit) or decoded (the upload decoded again).',
      labelNames: ['model', 'source'] as const,
      registers: [registry],
    }),
    queueWait: new Histogram({
      name: 'inferq_job_queue_wait_seconds',
      help: 'Time from submission to the first attempt starting, by model.',
      labelNames: ['model'] as const,
      buckets: waitBuckets,
      registers: [registry],
    }),
    inferenceDuration: new Histogram({
      name: 'inferq_inference_duration_seconds',
      help: 'Wall time of one model batch (predict), by model.',
      labelNames: ['model'] as const,
      buckets: secondsBuckets,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'inferq_batch_size',
      help: 'Inputs per model batch, by model.',
      labelNames: ['model'] as const,
      buckets: batchBuckets,
      registers: [registry],
    }),
    /** Dynamic batching's cost in latency: how long each input waited for its batch to start. */
    batchWait: new Histogram({
      name: 'inferq_batch_wait_seconds',
      help: 'Time an input waited in the worker batcher before its model batch started, by model.',
      labelNames: ['model'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    modelLoad: new Gauge({
      name: 'inferq_model_load_seconds',
      help: 'How long loading and warming up each served model version took.',
      labelNames: ['model', 'version'] as const,
      registers: [registry],
      collect() {
        if (!loadedModels) return;
        this.reset();
        for (const model of loadedModels())
          this.set({ model: model.name, version: model.version }, model.loadMs / 1000);
      },
    }),
    /** What reconciliation and retention did: requeued, failed_lost, fixed_failed, expired_deleted. */
    reconcilerActions: new Counter({
      name: 'inferq_reconciler_actions_total',
      help: 'Jobs the reconciler re-enqueued, failed or moved, and expired jobs it deleted, by action.',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    reconcilerLeader: new Gauge({
      name: 'inferq_reconciler_leader',
      help: '1 while this process holds the reconciler lock.',
      registers: [registry],
    }),
    queueDepth: queueDepth(registry, options.queueCounts),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
