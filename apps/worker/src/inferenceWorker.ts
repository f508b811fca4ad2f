import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  crashedAttemptRuns,
  crashedShadowRuns,
  inferenceQueueName,
  modelQueueName,
  shadowQueueName,
  type InferenceJobPayload,
} from '@inferq/core';
import type { ModelPool } from '@inferq/inference';
import {
  FinalAttemptError,
  type JobOutcome,
  type JobPipeline,
  type ModelJobs,
  type WorkerStats,
} from '@inferq/pipeline';

export type { JobOutcome, ModelJobs, WorkerStats } from '@inferq/pipeline';

export interface InferenceWorkerOptions {
  /** A consumer connection (retries forever). */
  connection: Redis;
  /** The job path each job taken runs through (`@inferq/pipeline`). */
  pipeline: JobPipeline;
  models: Pick<ModelPool, 'subscribe' | 'describe' | 'serves'>;
  logger: Logger;
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
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The worker's queue wiring: one BullMQ `Worker` per model queue the pool serves (and one per
 * shadow queue), following the pool as models are loaded and dropped. Each job taken goes
 * through the job path (`JobPipeline`, `@inferq/pipeline`); here BullMQ's job becomes the
 * pipeline's `QueuedAttempt`, and a `FinalAttemptError` becomes BullMQ's `UnrecoverableError`.
 *
 * Shadows' gating (a shadow run starts only while its model's primaries leave this worker idle)
 * stays here: it decides when a queue's job is taken, which is this wiring's business, not the
 * job path's; it reads the pipeline's counts.
 */
export class InferenceWorker {
  readonly #options: InferenceWorkerOptions;
  readonly #pipeline: JobPipeline;
  /** One BullMQ worker per model queue taken from; `closing` once the model is being dropped. */
  readonly #consumers = new Map<
    string,
    {
      worker: Worker<InferenceJobPayload, JobOutcome>;
      shadows?: Worker<InferenceJobPayload, JobOutcome>;
      closing?: Promise<void>;
    }
  >();
  /** Per model: shadow runs waiting for the model to be idle here (see #whenIdle). */
  readonly #idleWaiters = new Map<string, Array<() => void>>();
  /** Per model: performance.now() when its last primary job here ended. */
  readonly #lastPrimaryAt = new Map<string, number>();
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  #active = 0;

  constructor(options: InferenceWorkerOptions) {
    this.#options = options;
    this.#pipeline = options.pipeline;
    this.#pipeline.onAttemptEnded((model) => {
      this.#lastPrimaryAt.set(model, performance.now());
      this.#wakeIdle(model);
    });
  }

  /** Attempts' counts since start: succeeded, failed, skipped. */
  get stats(): WorkerStats {
    return this.#pipeline.stats;
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
    this.#pipeline.track(model, concurrency);
    const process = async (job: Job<InferenceJobPayload, JobOutcome>) => {
      this.#active++;
      try {
        return await this.#pipeline.process(
          { id: job.id, data: job.data, attemptsMade: job.attemptsMade, attemptsAllowed: job.opts.attempts ?? 1 },
          model,
        );
      } catch (error) {
        // The job path says "do not retry"; BullMQ hears it as its own no-retry error.
        if (error instanceof FinalAttemptError) throw new UnrecoverableError(error.message);
        throw error;
      } finally {
        this.#active--;
      }
    };
    const worker = new Worker<InferenceJobPayload, JobOutcome>(
      modelQueueName(model, this.#options.queueName ?? inferenceQueueName),
      process,
      {
        connection,
        prefix: this.#options.prefix ?? 'inferq',
        concurrency,
        lockDuration: this.#options.lockDurationMs ?? 30_000,
        stalledInterval: this.#options.stalledIntervalMs ?? 30_000,
        // What happens after a worker crash: see crashedAttemptRuns (`@inferq/core`, retrying.ts).
        maxStalledCount: crashedAttemptRuns,
        autorun: true,
      },
    );
    worker.on('error', (error) => logger.error({ err: error, model }, 'worker error'));
    worker.on('failed', (job, error) => {
      if (!job) return;
      const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      logger.warn({ jobId: job.id, model, attempt: job.attemptsMade, final, err: error }, 'job attempt failed');
    });
    worker.on('stalled', (jobId) => logger.warn({ jobId, model }, 'job stalled; it will run again'));
    const shadows = this.#pipeline.takesShadows ? this.#consumeShadows(model, process) : undefined;
    this.#consumers.set(model, { worker, ...(shadows ? { shadows } : {}) });
    logger.info({ model, queue: worker.name, concurrency }, 'taking jobs of model');
  }

  /**
   * The BullMQ worker on `model`'s shadow queue: a small concurrency, and each run waits until the
   * model's primaries leave this worker idle. A shadow that started runs to its end (one input on
   * the shadow version), so a primary arriving meanwhile waits at most that long.
   */
  #consumeShadows(
    model: string,
    process: (job: Job<InferenceJobPayload, JobOutcome>) => Promise<JobOutcome>,
  ): Worker<InferenceJobPayload, JobOutcome> {
    const { connection, logger } = this.#options;
    const gated = async (job: Job<InferenceJobPayload, JobOutcome>) => {
      await this.#whenIdle(model);
      return process(job);
    };
    const worker = new Worker<InferenceJobPayload, JobOutcome>(
      shadowQueueName(model, this.#options.queueName ?? inferenceQueueName),
      gated,
      {
        connection,
        prefix: this.#options.prefix ?? 'inferq',
        concurrency: this.#options.shadowConcurrency ?? 1,
        lockDuration: this.#options.lockDurationMs ?? 30_000,
        stalledInterval: this.#options.stalledIntervalMs ?? 30_000,
        maxStalledCount: crashedShadowRuns,
        autorun: true,
      },
    );
    worker.on('error', (error) => logger.error({ err: error, model }, 'shadow worker error'));
    return worker;
  }

  /**
   * Resolves once `model` is idle here and has been for `shadowIdleMs` (at once if so), or the
   * worker is closing.
   */
  async #whenIdle(model: string): Promise<void> {
    const idleMs = this.#options.shadowIdleMs ?? 100;
    while (!this.#closed && !this.#consumers.get(model)?.closing) {
      if (!this.#pipeline.idle(model)) {
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
    if (!force && !this.#pipeline.idle(model)) return;
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
    current.closing ??= Promise.all([current.worker.close(), current.shadows?.close()])
      .then(() => undefined)
      .finally(() => {
        if (this.#consumers.get(model) !== current) return;
        this.#consumers.delete(model);
        this.#pipeline.untrack(model);
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
    return this.#pipeline.modelJobs();
  }

  get running(): boolean {
    const consumers = [...this.#consumers.values()];
    return consumers.length > 0 && consumers.every(({ worker }) => worker.isRunning());
  }

  /** Stops taking jobs and waits for the running ones (BullMQ waits for active jobs). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    await Promise.all([...this.#consumers.keys()].map((model) => this.#stopConsuming(model)));
  }
}
