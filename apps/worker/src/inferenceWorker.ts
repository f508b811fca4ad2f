import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AppError, ThroughputMeter, defaultInferenceJobPolicy, inferenceJobPayloadSchema, inferenceQueueName, isUuid, modelQueueName, shadowQueueName, type ErrorCode, type InferenceJobPayload } from '@inferq/core';
import { isDatabaseUnavailable, type CompletedJob, type JobExecution, type ShadowResults, type StartedJob } from '@inferq/db';
import { imageToInput, preparedToInput } from '@inferq/images';
import { Batcher, decodeOutput, type Inference, type ModelLease, type ModelPool } from '@inferq/inference';
import type { WorkerMetrics } from '@inferq/metrics';
import { imageInputOf, isTensorManifest } from '@inferq/models';
import type { JobEventPublisher, PixelStore, StoredPixels } from '@inferq/queue';
import { decodeTensorPayload, readOutputs, selectOutputs, toProtocolOutput, type InferRequest, type Tensor, type TensorResult } from '@inferq/tensors';
import { disabledTracing, SpanStatusCode, type Span, type Tracing } from '@inferq/tracing';
import { resultSinkKey, type BlobStore } from '@inferq/storage';

export interface InferenceWorkerOptions {
  /** A consumer connection (retries forever). */
  connection: Redis;
  /** Attempts' status changes: start, complete, fail, retry. */
  execution: JobExecution;
  /**
   * Where inputs admitted with a blob store are kept (BLOB_STORE_URL, the same as the API's).
   * @defaultValue none: a job whose input is in a blob store is retried until one is configured
   */
  blobs?: BlobStore | undefined;
  models: ModelPool;
  logger: Logger;
  workerId: string;
  /**
   * Base queue name: the worker takes jobs from `modelQueueName(model, queueName)` for each model
   * `models` has loaded, and follows it as models are loaded and dropped. @defaultValue "inference"
   */
  queueName?: string;
  /** @defaultValue "inferq" */
  prefix?: string;
  /**
   * Jobs of one model held at once (per model: what its batcher can use). At least its batch size
   * so batches can fill. @defaultValue 16
   */
  concurrency?: number | ((model: string) => number);
  /** @defaultValue 30000 */
  lockDurationMs?: number;
  /** @defaultValue 30000 */
  stalledIntervalMs?: number;
  /** Results written to Postgres in one transaction at most. @defaultValue 64 */
  maxWriteBatch?: number;
  /** Announces status changes (running, succeeded, failed) after they are in Postgres. */
  events?: JobEventPublisher;
  /**
   * The model pixels the API made while validating (Redis): a job whose pixels are there, for
   * its model version's input spec, runs without reading or decoding its upload.
   * @defaultValue none: every job's upload is read and decoded here
   */
  pixels?: PixelStore;
  /**
   * Longest an attempt may spend preprocessing and in the model before it fails with TIMEOUT,
   * for models whose manifest sets no `limits.timeoutMs`. @defaultValue 60000 (the job catalog's)
   */
  jobTimeoutMs?: number;
  /**
   * How long a computed result keeps being written while Postgres is unreachable before the
   * attempt is given up (and retried by BullMQ). @defaultValue 60000
   */
  resultWriteRetryMs?: number;
  metrics?: WorkerMetrics;
  /** Where shadow runs (a traffic split's shadow version) write what they made. @defaultValue none: shadow runs are not taken */
  shadowResults?: ShadowResults;
  /**
   * Shadow runs of one model held at once. Each starts only while this worker holds no primary
   * job of the model (none waiting for a batch, none running), so shadows use idle capacity only.
   * @defaultValue 1
   */
  shadowConcurrency?: number;
  /**
   * How long the model must have been idle here (no primary held since) before a shadow run
   * starts. Under steady traffic the gaps between primaries are short and shadows wait (and,
   * past the backlog bound, are dropped); they run in the lulls. @defaultValue 100
   */
  shadowIdleMs?: number;
  /**
   * Spans of each attempt (`attempt`, with `start`, `batch` and `result write` under it),
   * continuing the trace whose context the payload carries. @defaultValue disabledTracing (off)
   */
  tracing?: Tracing;
}

export interface JobOutcome {
  status: 'succeeded' | 'skipped';
  modelVersion?: string;
  engine?: string;
}

export interface WorkerStats {
  succeeded: number;
  failed: number;
  skipped: number;
  batches: number;
}

/** A failure that retrying cannot fix: the row is failed with `code` and BullMQ does not retry. */
class PermanentFailure extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Settles like `work`, or rejects with `onTimeout()` after `ms`. The work itself cannot be
 * interrupted (a model call runs to its end), but the attempt, and with it the worker's slot, is
 * released; a result that arrives later is dropped by the conditional row updates. A synchronous
 * model call keeps the timer from firing until it returns, so work that settles after its
 * deadline counts as timed out too: the rule is the elapsed time, not which callback ran first.
 */
async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  work.catch(() => {}); // a late failure after the deadline must not surface as unhandled
  try {
    const result = await Promise.race([work, deadline]);
    if (performance.now() - started > ms) throw onTimeout();
    return result;
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One attempt on its way through #process. */
interface Attempt {
  payload: InferenceJobPayload;
  log: Logger;
  /** The job's owner, known once the attempt started. */
  userId: string | null;
  /** The job's result sink (`results/<prefix>/<id>.json`), known once the attempt started. */
  resultPrefix?: string | null;
  /** held: taken from the queue, waiting to be preprocessed or for its batch; running: being preprocessed or in a running batch. */
  phase: 'held' | 'running';
  /** Where the attempt is counted: its queue's model. */
  counts: ModelJobs | undefined;
  /** Set when the attempt ended: a batch that starts after a timeout no longer moves it. */
  ended?: boolean;
  /** performance.now() when the row moved to running, and when the job's model batch started. */
  startedAt?: number;
  batchStartedAt?: number;
  /** The attempt's span (a non-recording one when tracing is off). */
  span: Span;
}

/** A model's jobs in this worker right now. */
export interface ModelJobs {
  model: string;
  held: number;
  running: number;
  /** Jobs of the model this worker takes at most. */
  concurrency: number;
  /** Jobs finished per second of busy time over the last minute (queue positions' ETA); null: none finished. */
  throughput?: number | null;
}

/**
 * Pulls inference jobs, runs them through the model pool in batches and writes results back.
 * Retry policy is decided here: bad input or a missing row fails at once (UnrecoverableError);
 * a lost connection to Postgres or Redis throws a plain error, so BullMQ retries with backoff.
 */
export class InferenceWorker {
  readonly #options: InferenceWorkerOptions;
  readonly #writer: Batcher<CompletedJob, string | null>;
  readonly #starter: Batcher<string, (StartedJob & { handed?: StoredPixels }) | null>;
  /** One BullMQ worker per model queue taken from; `closing` once the model is being dropped. */
  readonly #consumers = new Map<string, { worker: Worker<InferenceJobPayload, JobOutcome>; shadows?: Worker<InferenceJobPayload, JobOutcome>; closing?: Promise<void> }>();
  /** Per model: shadow runs waiting for the model to be idle here (see #whenIdle). */
  readonly #idleWaiters = new Map<string, Array<() => void>>();
  /** Per model: performance.now() when its last primary job here ended. */
  readonly #lastPrimaryAt = new Map<string, number>();
  readonly #jobs = new Map<string, ModelJobs>();
  /** Per model: its measured throughput here, announced in the heartbeat. */
  readonly #meters = new Map<string, ThroughputMeter>();
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  readonly stats: WorkerStats = { succeeded: 0, failed: 0, skipped: 0, batches: 0 };
  #active = 0;

  constructor(options: InferenceWorkerOptions) {
    this.#options = options;
    // Jobs taken from the queue together (a batch's worth of slots frees at once) start in one
    // statement that also reads their inputs; one at a time while the worker is quiet.
    // Their pixels, where the API handed some over, are taken from Redis first (one pipeline), so
    // those jobs' uploads are not read at all. Redis failing here only costs decodes.
    this.#starter = new Batcher<string, (StartedJob & { handed?: StoredPixels }) | null>({
      maxBatchSize: 64,
      maxDelayMs: 0,
      run: async (ids) => {
        const handed = options.pixels ? await options.pixels.takeMany(ids).catch(() => ids.map(() => undefined)) : [];
        const withoutInput = ids.filter((_, i) => handed[i] !== undefined);
        const started = await options.execution.startMany(ids, options.workerId, new Date(), withoutInput);
        return ids.map((id, i) => {
          const row = started.get(id);
          if (!row) return null;
          const pixels = handed[i];
          return pixels ? { ...row, handed: pixels } : row;
        });
      },
    });
    // Results of jobs that finish together are written in one transaction.
    this.#writer = new Batcher<CompletedJob, string | null>({
      maxBatchSize: options.maxWriteBatch ?? 64,
      maxDelayMs: 0,
      run: async (completed) => {
        const written = new Set(await options.execution.completeMany(completed));
        return completed.map((job) => (written.has(job.id) ? job.id : null));
      },
    });
  }

  /**
   * Takes jobs from the queue of each model the pool has loaded, and from then on follows the
   * pool: a model loaded later (a retry, a fixed version, a new name under `*`) gets its queue
   * taken at once; a model dropped has its queue let go first.
   */
  start(): void {
    if (this.#unsubscribe || this.#closed) return;
    this.#unsubscribe = this.#options.models.subscribe({
      added: (model) => this.#consume(model),
      removing: (model) => this.#stopConsuming(model),
    });
    for (const { name } of this.#options.models.describe()) this.#consume(name);
  }

  /** Starts one BullMQ worker on `model`'s queue, unless one runs; after one being closed, once it has. */
  #consume(model: string): void {
    if (this.#closed) return;
    const current = this.#consumers.get(model);
    if (current?.closing) {
      // Loaded again while its queue was being let go: taken again once that is done, if still served.
      void current.closing
        .catch(() => {})
        .then(() => {
          if (this.#options.models.serves(model)) this.#consume(model);
        });
      return;
    }
    if (current) return;
    const { connection, logger } = this.#options;
    const concurrency = this.#concurrencyOf(model);
    this.#jobs.set(model, { model, held: 0, running: 0, concurrency });
    if (!this.#meters.has(model)) this.#meters.set(model, new ThroughputMeter());
    const process = async (job: Job<InferenceJobPayload, JobOutcome>) => {
      this.#active++;
      try {
        return await this.#process(job, model);
      } finally {
        this.#active--;
      }
    };
    const worker = new Worker<InferenceJobPayload, JobOutcome>(modelQueueName(model, this.#options.queueName ?? inferenceQueueName), process, {
      connection,
      prefix: this.#options.prefix ?? 'inferq',
      concurrency,
      lockDuration: this.#options.lockDurationMs ?? 30_000,
      stalledInterval: this.#options.stalledIntervalMs ?? 30_000,
      maxStalledCount: 3,
      autorun: true,
    });
    worker.on('error', (error) => logger.error({ err: error, model }, 'worker error'));
    worker.on('failed', (job, error) => {
      if (!job) return;
      const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      logger.warn({ jobId: job.id, model, attempt: job.attemptsMade, final, err: error }, 'job attempt failed');
    });
    worker.on('stalled', (jobId) => logger.warn({ jobId, model }, 'job stalled; it will run again'));
    const shadows = this.#options.shadowResults ? this.#consumeShadows(model, process) : undefined;
    this.#consumers.set(model, { worker, ...(shadows ? { shadows } : {}) });
    logger.info({ model, queue: worker.name, concurrency }, 'taking jobs of model');
  }

  /**
   * The BullMQ worker on `model`'s shadow queue: a small concurrency, and each run waits until the
   * model's primaries leave this worker idle. A shadow that started runs to its end (one input on
   * the shadow version), so a primary arriving meanwhile waits at most that long.
   */
  #consumeShadows(model: string, process: (job: Job<InferenceJobPayload, JobOutcome>) => Promise<JobOutcome>): Worker<InferenceJobPayload, JobOutcome> {
    const { connection, logger } = this.#options;
    const gated = async (job: Job<InferenceJobPayload, JobOutcome>) => {
      await this.#whenIdle(model);
      return process(job);
    };
    const worker = new Worker<InferenceJobPayload, JobOutcome>(shadowQueueName(model, this.#options.queueName ?? inferenceQueueName), gated, {
      connection,
      prefix: this.#options.prefix ?? 'inferq',
      concurrency: this.#options.shadowConcurrency ?? 1,
      lockDuration: this.#options.lockDurationMs ?? 30_000,
      stalledInterval: this.#options.stalledIntervalMs ?? 30_000,
      maxStalledCount: 1,
      autorun: true,
    });
    worker.on('error', (error) => logger.error({ err: error, model }, 'shadow worker error'));
    return worker;
  }

  /** Whether this worker holds no primary job of `model`: none waiting for a batch, none running. */
  #idle(model: string): boolean {
    const counts = this.#jobs.get(model);
    return counts === undefined || counts.held + counts.running === 0;
  }

  /**
   * Resolves once `model` is idle here and has been for `shadowIdleMs` (at once if so), or the
   * worker is closing.
   */
  async #whenIdle(model: string): Promise<void> {
    const idleMs = this.#options.shadowIdleMs ?? 100;
    while (!this.#closed && !this.#consumers.get(model)?.closing) {
      if (!this.#idle(model)) {
        await new Promise<void>((resolve) => {
          const waiters = this.#idleWaiters.get(model) ?? [];
          waiters.push(resolve);
          this.#idleWaiters.set(model, waiters);
        });
        continue;
      }
      const quietFor = performance.now() - (this.#lastPrimaryAt.get(model) ?? -Infinity);
      if (quietFor >= idleMs) return;
      await sleep(idleMs - quietFor);
    }
  }

  /** Lets the shadow runs waiting on `model` go, when it just became idle (or is being let go). */
  #wakeIdle(model: string, force = false): void {
    if (!force && !this.#idle(model)) return;
    const waiters = this.#idleWaiters.get(model);
    if (!waiters || waiters.length === 0) return;
    this.#idleWaiters.delete(model);
    // Woken one turn later: a primary taken in the same turn counts first, and they wait again.
    setImmediate(() => {
      for (const wake of waiters) wake();
    });
  }

  /** Stops taking `model`'s jobs; resolves once the ones held have finished. */
  async #stopConsuming(model: string): Promise<void> {
    const current = this.#consumers.get(model);
    if (!current) return;
    if (!current.closing) this.#wakeIdle(model, true);
    current.closing ??= Promise.all([current.worker.close(), current.shadows?.close()]).then(() => undefined).finally(() => {
      if (this.#consumers.get(model) !== current) return;
      this.#consumers.delete(model);
      this.#jobs.delete(model);
      this.#options.logger.info({ model }, 'no longer taking jobs of model');
    });
    await current.closing;
  }

  /**
   * Whether this worker takes `model`'s jobs right now: what the heartbeat announces, so every
   * view (GET /v1/models, the operators' overview, a job's `waitingFor`) says what it takes.
   */
  consumes(model: string): boolean {
    const current = this.#consumers.get(model);
    return current !== undefined && current.closing === undefined;
  }

  get #tracing(): Tracing {
    return this.#options.tracing ?? disabledTracing;
  }

  #concurrencyOf(model: string): number {
    const option = this.#options.concurrency ?? 16;
    return typeof option === 'function' ? option(model) : option;
  }

  /** Jobs this worker holds right now, over every model. */
  get activeJobs(): number {
    return this.#active;
  }

  /** Per served model: jobs held (waiting) and running (preprocessing or in a running batch). */
  modelJobs(): ModelJobs[] {
    return [...this.#jobs.values()].map((entry) => ({ ...entry, throughput: this.#meters.get(entry.model)?.rate() ?? null }));
  }

  get running(): boolean {
    const consumers = [...this.#consumers.values()];
    return consumers.length > 0 && consumers.every(({ worker }) => worker.isRunning());
  }

  /** Moves an attempt between held and running, for the operators' counts. */
  #enter(attempt: Attempt, phase: 'held' | 'running'): void {
    const entry = attempt.counts;
    if (!entry || attempt.ended || attempt.phase === phase) return;
    entry[attempt.phase]--;
    entry[phase]++;
    attempt.phase = phase;
  }

  /**
   * One attempt of a job, in steps: check the payload, start the attempt on the row, take the
   * model, run preprocessing and inference under the job's deadline, write the result. A failure
   * is either permanent (bad input, a model that rejects it: failed now, never retried) or
   * transient (retried with backoff until the attempts run out).
   */
  async #process(job: Job<InferenceJobPayload, JobOutcome>, queueModel: string): Promise<JobOutcome> {
    const payload = await this.#parsePayload(job);
    if (payload.shadow) return this.#processShadow(payload);
    // Counted under its queue's model (which its payload names, unless it was put there by hand).
    const counts = this.#jobs.get(queueModel);
    const tracing = this.#tracing;
    const span = tracing.startSpan('attempt', {
      parent: tracing.enabled && payload.traceparent ? tracing.contextOf({ traceparent: payload.traceparent }) : undefined,
      attributes: tracing.enabled ? { 'inferq.job_id': payload.jobId, 'inferq.model': payload.model, 'inferq.attempt': job.attemptsMade + 1, 'inferq.worker_id': this.#options.workerId } : {},
    });
    const attempt: Attempt = { payload, log: this.#options.logger.child({ jobId: payload.jobId, model: payload.model }), userId: null, phase: 'held', counts, span };
    if (counts) counts.held++;
    const meter = this.#meters.get(queueModel);
    meter?.begin();
    let produced = false;
    let lease: ModelLease | undefined;
    try {
      const row = await this.#startAttempt(attempt);
      if (!row) {
        // Canceled, already finished by an earlier attempt, or deleted: nothing to do.
        this.stats.skipped++;
        return { status: 'skipped' };
      }
      lease = await this.#acquireModel(payload);
      const inference = await this.#infer(attempt, row, lease);
      produced = true;
      return await this.#complete(attempt, lease, inference);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof PermanentFailure ? error.code : (error as Error).message });
      if (error instanceof PermanentFailure) return await this.#failPermanently(attempt, error);
      return await this.#failAttempt(attempt, job, error);
    } finally {
      span.end();
      // The version this job ran on may be disposed once no job holds it (hot swap).
      lease?.release();
      attempt.ended = true;
      if (counts) counts[attempt.phase]--;
      meter?.end(produced);
      this.#lastPrimaryAt.set(queueModel, performance.now());
      this.#wakeIdle(queueModel);
    }
  }

  /**
   * A shadow run: the job's stored upload on the shadow version, its outcome written to
   * `job_shadow_results` and nowhere else. The job's row, status, events and webhooks are the
   * primary's alone; a failure is recorded as the shadow's (it counts against the candidate's
   * error rate) and never retried. A job deleted meanwhile is skipped.
   */
  async #processShadow(payload: InferenceJobPayload): Promise<JobOutcome> {
    const store = this.#options.shadowResults;
    const version = payload.modelVersion;
    if (!store || version === undefined) return { status: 'skipped' };
    const bytes = await this.#loadInput(payload.jobId, null);
    if (!bytes) return { status: 'skipped' };
    const record = { jobId: payload.jobId, modelName: payload.model, modelVersion: version };
    let lease: ModelLease | undefined;
    try {
      lease = await this.#acquireModel(payload);
      let input: Float32Array;
      try {
        input = await imageToInput(bytes, imageInputOf(lease.manifest));
      } catch (error) {
        throw new PermanentFailure('PREPROCESSING_FAILED', 'The image could not be turned into model input.', { cause: error });
      }
      const inference = await lease.submit(input).catch((error: unknown) => {
        throw new PermanentFailure('INFERENCE_FAILED', 'The model rejected this input.', { cause: error });
      });
      // Stored as the primary's result row is, so the comparison reads both alike.
      const decoded = this.#decode(lease, inference);
      await store.write({ ...record, output: decoded.output, labels: decoded.labels, inferenceMs: inference.inferenceMs });
      return { status: 'succeeded', modelVersion: version, engine: inference.engine };
    } catch (error) {
      if (!(error instanceof PermanentFailure)) throw error;
      this.#options.logger.warn({ jobId: payload.jobId, model: payload.model, version, code: error.code, err: error.cause ?? error }, 'shadow run failed');
      await store.write({ ...record, errorCode: error.code });
      return { status: 'succeeded', modelVersion: version };
    } finally {
      lease?.release();
    }
  }

  /**
   * The payload checked again at dequeue: an old or foreign one is nothing to retry. Its row is
   * failed when the id can be recovered.
   */
  async #parsePayload(job: Job<InferenceJobPayload, JobOutcome>): Promise<InferenceJobPayload> {
    const parsed = inferenceJobPayloadSchema.safeParse(job.data);
    if (parsed.success) return parsed.data;
    const jobId = typeof job.id === 'string' ? job.id : undefined;
    if (jobId && isUuid(jobId)) await this.#options.execution.fail(jobId, 'INVALID_JOB_ID', 'The queued payload is not valid.').catch(() => {});
    throw new UnrecoverableError(`invalid payload: ${parsed.error.issues.map((issue) => issue.path.join('.')).join(', ')}`);
  }

  /** Moves the row to `running` (batched with the other jobs starting now); null: the attempt must not run. */
  async #startAttempt(attempt: Attempt): Promise<(StartedJob & { handed?: StoredPixels }) | null> {
    const { payload } = attempt;
    const row = await this.#tracing.inSpan('start', { parent: attempt.span }, () => this.#starter.submit(payload.jobId));
    if (!row) return null;
    if (row.expired) {
      // Past its ttl before any attempt began: moved to `expired` by the start itself, never run.
      attempt.log.info('job expired before it started; skipped');
      this.#options.metrics?.jobsFinished.inc({ model: payload.model, status: 'expired', code: 'EXPIRED' });
      void this.#options.events?.publish({ jobId: payload.jobId, userId: row.userId, status: 'expired', model: payload.model });
      return null;
    }
    attempt.startedAt = performance.now();
    attempt.userId = row.userId;
    attempt.resultPrefix = row.resultPrefix;
    void this.#options.events?.publish({ jobId: payload.jobId, userId: row.userId, status: 'running', model: payload.model });
    if (row.attempts === 1 && row.queueWaitMs !== null) this.#options.metrics?.queueWait.observe({ model: payload.model }, row.queueWaitMs / 1000);
    return row;
  }

  /**
   * The input bytes of an attempt that started without them: from the blob store when the row
   * names a key, else from Postgres (the row may have been moved to the store meanwhile). Null
   * when they are gone (INPUT_MISSING); a store that cannot be reached is a plain error, retried.
   */
  async #loadInput(jobId: string, inputKey: string | null): Promise<Buffer | null> {
    const stored = inputKey ? { blobKey: inputKey } : await this.#options.execution.inputOf(jobId);
    if (!stored) return null;
    if (stored.data) return stored.data;
    const blobs = this.#options.blobs;
    if (!blobs) throw new Error(`job ${jobId}'s input is in a blob store, and this worker has none (set BLOB_STORE_URL as for the API)`);
    return blobs.get(stored.blobKey);
  }

  /** Preprocessing and inference, under the model's (or the worker's) per-job deadline. */
  async #infer(attempt: Attempt, row: StartedJob & { handed?: StoredPixels }, lease: ModelLease): Promise<Inference> {
    const { payload } = attempt;
    if (!row.hasInput) throw new PermanentFailure('INPUT_MISSING', 'The stored input of this job is gone.');
    const metrics = this.#options.metrics;
    const compute = async () => {
      this.#enter(attempt, 'running');
      if (isTensorManifest(lease.manifest)) return this.#inferTensors(attempt, row, lease);
      let imageInput;
      try {
        imageInput = imageInputOf(lease.manifest);
      } catch (error) {
        throw new PermanentFailure('MODEL_KIND_MISMATCH', 'The model takes tensors; this job holds an image.', { cause: error });
      }
      // The pixels the API made while validating (handed over through Redis, or stored with the
      // input by older API versions), when they are for this model version's input spec;
      // otherwise (another spec since a model swap, or none) the upload is decoded here.
      const stored = row.handed ?? (row.pixels && row.pixelsSpec ? { data: row.pixels, spec: row.pixelsSpec } : undefined);
      const prepared = stored ? preparedToInput(stored, imageInput) : undefined;
      metrics?.preprocessed.inc({ model: payload.model, source: prepared ? 'prepared' : 'decoded' });
      let input: Float32Array;
      if (!prepared) {
        const bytes = row.input ?? (await this.#loadInput(payload.jobId, row.inputKey));
        if (!bytes) throw new PermanentFailure('INPUT_MISSING', 'The stored input of this job is gone.');
        try {
          input = await imageToInput(bytes, imageInput);
        } catch (error) {
          throw new PermanentFailure('PREPROCESSING_FAILED', 'The image could not be turned into model input.', { cause: error });
        }
      } else input = prepared;
      return this.#inBatch(attempt, lease, input);
    };
    const timeoutMs = lease.manifest.limits?.timeoutMs ?? this.#options.jobTimeoutMs ?? defaultInferenceJobPolicy.timeoutMs;
    // The submit's execution deadline (Cancel-After), when it is the tighter one, fails with its own code.
    const cancelAfterMs = row.cancelAfterMs;
    if (cancelAfterMs !== null && cancelAfterMs < timeoutMs) {
      return withDeadline(compute(), cancelAfterMs, () => new PermanentFailure('DEADLINE_EXCEEDED', `The job ran longer than its Cancel-After of ${cancelAfterMs} ms.`));
    }
    return withDeadline(compute(), timeoutMs, () => new PermanentFailure('TIMEOUT', `The job ran longer than its limit of ${timeoutMs} ms.`));
  }

  /**
   * A tensor job: its stored request (the tensors the API checked against the manifest) read
   * from the input store, and run in the model's next batch, stacked with the requests of the
   * same shape on the batch axis.
   */
  async #inferTensors(attempt: Attempt, row: StartedJob, lease: ModelLease): Promise<Inference & { request: InferRequest }> {
    const bytes = row.input ?? (await this.#loadInput(attempt.payload.jobId, row.inputKey));
    if (!bytes) throw new PermanentFailure('INPUT_MISSING', 'The stored input of this job is gone.');
    let request: InferRequest;
    try {
      request = decodeTensorPayload(bytes);
    } catch (error) {
      throw new PermanentFailure('MODEL_KIND_MISMATCH', 'The model takes tensors; this job holds an image.', { cause: error });
    }
    this.#options.metrics?.preprocessed.inc({ model: attempt.payload.model, source: 'tensor' });
    return { ...(await this.#inBatch(attempt, lease, request.inputs)), request };
  }

  /** Runs one job's input in its model version's next batch. */
  async #inBatch(attempt: Attempt, lease: ModelLease, input: Float32Array | readonly Tensor[]): Promise<Inference> {
    {
      try {
        // Held again until its batch starts (the batcher may be running the one before).
        this.#enter(attempt, 'held');
        // The batch as this job saw it: from its start to this job's output (one span per job,
        // under its attempt; its size says how many jobs it served, and its links which: the
        // attempt span of each, in that job's own trace).
        let batch: Span | undefined;
        const carried = this.#tracing.carrier(attempt.span);
        try {
          const inference = await lease.submit(
            input,
            ({ tags }) => {
              attempt.batchStartedAt = performance.now();
              this.#enter(attempt, 'running');
              batch = this.#tracing.startSpan('batch', { parent: attempt.span, links: tags.map((traceparent) => ({ traceparent })) });
            },
            carried?.traceparent,
          );
          if (batch?.isRecording()) batch.setAttributes({ 'inferq.batch_size': inference.batchSize, 'inferq.engine': inference.engine, 'inferq.inference_ms': inference.inferenceMs });
          return inference;
        } finally {
          batch?.end();
        }
      } catch (error) {
        throw new PermanentFailure('INFERENCE_FAILED', 'The model rejected this input.', { cause: error });
      }
    }
  }

  /** Writes the result; a row canceled meanwhile keeps its status and the result is discarded. */
  async #complete(attempt: Attempt, lease: ModelLease, inference: Inference & { request?: InferRequest }): Promise<JobOutcome> {
    const { payload, log, userId } = attempt;
    const decoded = this.#decode(lease, inference);
    const written = await this.#tracing.inSpan('result write', { parent: attempt.span }, () => this.#writeResult(log, {
      id: payload.jobId,
      workerId: this.#options.workerId,
      inferenceMs: inference.inferenceMs,
      // Preprocessing and the wait for the batch: queue wait + held + inference ≈ total.
      ...(attempt.startedAt !== undefined && attempt.batchStartedAt !== undefined ? { heldMs: attempt.batchStartedAt - attempt.startedAt } : {}),
      result: {
        modelName: lease.manifest.name,
        modelVersion: lease.manifest.version,
        engine: inference.engine,
        output: decoded.output,
        labels: decoded.labels,
      },
    }));
    if (written && attempt.resultPrefix) await this.#writeResultCopy(attempt, attempt.resultPrefix, lease, inference, decoded);
    if (written) {
      this.stats.succeeded++;
      this.#options.metrics?.jobsFinished.inc({ model: payload.model, status: 'succeeded', code: '' });
      void this.#options.events?.publish({ jobId: payload.jobId, userId, status: 'succeeded', model: payload.model });
    } else this.stats.skipped++; // canceled while running: the result is discarded
    log.debug({ batchSize: inference.batchSize, inferenceMs: Math.round(inference.inferenceMs) }, 'job done');
    return { status: written ? 'succeeded' : 'skipped', modelVersion: lease.manifest.version, engine: inference.engine };
  }

  /**
   * The result sink: the result JSON also goes to `results/<prefix>/<id>.json` in the blob store.
   * The job has succeeded already (the row is the record); a copy that cannot be written is
   * logged and not retried.
   */
  async #writeResultCopy(attempt: Attempt, prefix: string, lease: ModelLease, inference: Inference, decoded: { output: unknown; labels: unknown }): Promise<void> {
    const blobs = this.#options.blobs;
    if (!blobs) {
      attempt.log.warn({ resultPrefix: prefix }, 'result sink asked for, but this worker has no blob store (BLOB_STORE_URL)');
      return;
    }
    const copy = {
      id: attempt.payload.jobId,
      status: 'succeeded',
      model: { name: lease.manifest.name, version: lease.manifest.version, engine: inference.engine },
      result: { output: decoded.output, top: decoded.labels ?? null },
      finishedAt: new Date().toISOString(),
    };
    await blobs.put(resultSinkKey(attempt.payload.jobId, prefix), Buffer.from(JSON.stringify(copy)), { contentType: 'application/json' }).catch((error: unknown) => {
      attempt.log.warn({ err: error, resultPrefix: prefix }, 'the result copy could not be written to the blob store');
    });
  }

  /**
   * What the result row stores. An image model: its output vector and top labels. A tensor model:
   * the outputs the request asked for, in the protocol's shape, and the manifest reader's reading
   * of all of them; a classification reading's first row is also the job's top labels.
   */
  #decode(lease: ModelLease, inference: Inference & { request?: InferRequest }): { output: number[][] | TensorResult; labels: unknown } {
    const { manifest } = lease;
    if (!isTensorManifest(manifest) || !inference.tensors || !inference.request) {
      const decoded = decodeOutput(inference.vector, manifest);
      return { output: [decoded.scores], labels: decoded.top };
    }
    const reading = readOutputs(manifest.reader, inference.tensors);
    const outputs = selectOutputs(inference.tensors, inference.request.outputs).map(toProtocolOutput);
    return { output: { outputs, reading }, labels: reading.kind === 'classification' ? (reading.top[0] ?? []).map(({ label, score }) => ({ label, score })) : null };
  }

  /** Bad input or a model that rejects it: the row fails now and BullMQ does not retry. */
  async #failPermanently(attempt: Attempt, error: PermanentFailure): Promise<never> {
    attempt.log.warn({ code: error.code, err: error.cause ?? error }, error.message);
    // Retried while Postgres is unreachable, as a result is; should that run out, the
    // reconciler fails the row with the code BullMQ keeps as the failed reason (the error's
    // message is exactly the code).
    await this.#finishFailed(attempt, error.code, error.message);
    throw new UnrecoverableError(error.code);
  }

  /**
   * Anything else (a lost connection, a bug): retried with backoff while attempts remain; the
   * last attempt fails the row, unless Postgres is what is down.
   */
  async #failAttempt(attempt: Attempt, job: Job<InferenceJobPayload, JobOutcome>, error: unknown): Promise<never> {
    const { payload, log } = attempt;
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const code: ErrorCode = isDatabaseUnavailable(error) ? 'DATABASE_UNAVAILABLE' : 'INTERNAL';
    log.warn({ err: error, attempt: job.attemptsMade + 1, lastAttempt }, 'attempt failed');
    if (lastAttempt && code !== 'DATABASE_UNAVAILABLE') {
      await this.#finishFailed(attempt, code, 'The job failed after all its attempts.');
    } else if (!lastAttempt) {
      this.#options.metrics?.jobRetries.inc({ model: payload.model, code });
      await this.#options.execution.recordRetry(payload.jobId, code, 'Attempt failed; retrying.').catch(() => {});
    }
    // Out of attempts because Postgres was down: the row stays unfinished and the reconciler
    // runs the job again once Postgres is back (a transient code is never a final answer).
    throw new Error(code, { cause: error });
  }

  /** Fails the row for good and, when this call changed it, counts and announces it. */
  async #finishFailed(attempt: Attempt, code: ErrorCode, message: string): Promise<void> {
    const { payload, log, userId } = attempt;
    this.stats.failed++;
    const failed = await this.#writeFailure(log, payload.jobId, code, message);
    if (failed) {
      this.#options.metrics?.jobsFinished.inc({ model: payload.model, status: 'failed', code });
      void this.#options.events?.publish({ jobId: payload.jobId, userId, status: 'failed', model: payload.model });
    }
  }

  /**
   * The live version of the job's model, or the version it is pinned to (loaded on demand).
   * A model or version the registry does not have fails at once with UNKNOWN_MODEL; a version
   * that exists but cannot load fails with MODEL_NOT_READY (retrying will not fix its files).
   */
  async #acquireModel(payload: InferenceJobPayload): Promise<ModelLease> {
    try {
      return await this.#options.models.acquire(payload.model, payload.modelVersion);
    } catch (error) {
      if (error instanceof AppError && error.code === 'MODEL_NOT_FOUND') {
        const what = payload.modelVersion ? `Version ${payload.modelVersion} of ${payload.model}` : `The model ${payload.model}`;
        throw new PermanentFailure('UNKNOWN_MODEL', `${what} is not served.`, { cause: error });
      }
      if (error instanceof AppError && error.code === 'MODEL_NOT_READY') {
        throw new PermanentFailure('MODEL_NOT_READY', `Version ${payload.modelVersion ?? '(live)'} of ${payload.model} cannot be loaded.`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * Writes one result (batched with the others finishing now), retrying while Postgres is
   * unreachable: the inference is done and worth keeping. Returns null when the row was already
   * final (canceled, or finished by another attempt).
   */
  #writeResult(log: Logger, completed: CompletedJob): Promise<string | null> {
    return this.#whilePostgresDown(log, 'result', () => this.#writer.submit(completed));
  }

  /**
   * Fails the job's row with `code`, retrying while Postgres is unreachable like a result write.
   * Returns whether the row changed (false when it was final already, or the write gave up).
   */
  async #writeFailure(log: Logger, id: string, code: ErrorCode, message: string): Promise<boolean> {
    try {
      return await this.#whilePostgresDown(log, 'failure', () => this.#options.execution.fail(id, code, message));
    } catch (error) {
      log.error({ err: error, code }, 'failure write failed; the reconciler will fail the row');
      return false;
    }
  }

  /**
   * Runs `write` until it succeeds, retrying with backoff (200 ms doubling, at most 5 s) while
   * Postgres is unreachable, for up to `resultWriteRetryMs`; any other error, or one past that
   * time, is thrown.
   */
  async #whilePostgresDown<T>(log: Logger, what: 'result' | 'failure', write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.#options.resultWriteRetryMs ?? 60_000);
    for (let attempt = 0; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        if (!isDatabaseUnavailable(error) || Date.now() >= deadline) throw error;
        log.warn({ err: error, attempt: attempt + 1 }, `${what} write failed: Postgres unavailable; retrying`);
        await sleep(Math.min(200 * 2 ** attempt, 5000));
      }
    }
  }

  /** Stops taking jobs and waits for the running ones (BullMQ waits for active jobs). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    await Promise.all([...this.#consumers.keys()].map((model) => this.#stopConsuming(model)));
  }
}
