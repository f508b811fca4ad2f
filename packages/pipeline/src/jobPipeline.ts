import type { Logger } from 'pino';
import {
  decideFailedAttempt,
  inferenceJobPayloadSchema,
  isUuid,
  ThroughputMeter,
  type AttemptError,
  type InferenceJobPayload,
} from '@inferq/core';
import { isDatabaseUnavailable, type JobExecution, type ShadowResults } from '@inferq/db';
import type { ModelLease, ModelPool } from '@inferq/inference';
import { JobLifecycle } from '@inferq/lifecycle';
import type { WorkerMetrics } from '@inferq/metrics';
import type { JobEventPublisher, PixelStore } from '@inferq/queue';
import type { BlobStore } from '@inferq/storage';
import { disabledTracing, SpanStatusCode, type Tracing } from '@inferq/tracing';
import {
  FinalAttemptError,
  PermanentFailure,
  type Attempt,
  type JobOutcome,
  type ModelJobs,
  type QueuedAttempt,
  type WorkerStats,
} from './attempt.ts';
import { AttemptClaims } from './claim.ts';
import { InputLoader } from './loadInput.ts';
import { AttemptRecorder } from './record.ts';
import { acquireModel, AttemptRunner } from './run.ts';
import { ShadowRuns } from './shadowRun.ts';

export interface JobPipelineOptions {
  /** Attempts' status changes: start, complete, fail, retry (through a `JobLifecycle`). */
  execution: JobExecution;
  /**
   * Where inputs admitted with a blob store are kept (BLOB_STORE_URL, the same as the API's).
   * @defaultValue none: a job whose input is in a blob store is retried until one is configured
   */
  blobs?: BlobStore | undefined;
  /** Where each attempt takes its model version (and gives it back). */
  models: Pick<ModelPool, 'acquire'>;
  logger: Logger;
  workerId: string;
  /** Results written to Postgres in one transaction at most. @defaultValue 64 */
  maxWriteBatch?: number | undefined;
  /** Announces status changes (running, succeeded, failed, expired) after they are in Postgres. */
  events?: JobEventPublisher | undefined;
  /**
   * The model pixels the API made while validating (Redis): a job whose pixels are there, for
   * its model version's input spec, runs without reading or decoding its upload.
   * @defaultValue none: every job's upload is read and decoded here
   */
  pixels?: PixelStore | undefined;
  /**
   * Longest an attempt may spend preprocessing and in the model before it fails with TIMEOUT,
   * for models whose manifest sets no `limits.timeoutMs`. @defaultValue 60000 (the job catalog's)
   */
  jobTimeoutMs?: number | undefined;
  /**
   * How long a computed result keeps being written while Postgres is unreachable before the
   * attempt is given up (and retried by BullMQ). @defaultValue 60000
   */
  resultWriteRetryMs?: number | undefined;
  metrics?: WorkerMetrics | undefined;
  /** Where shadow runs (a traffic split's shadow version) write what they made. @defaultValue none: shadow runs are skipped */
  shadowResults?: ShadowResults | undefined;
  /**
   * Spans of each attempt (`attempt`, with `start`, `batch` and `result write` under it),
   * continuing the trace whose context the payload carries. @defaultValue disabledTracing (off)
   */
  tracing?: Tracing | undefined;
}

/**
 * The worker's job path: one attempt of a job through its named steps, composed here.
 *
 * 1. claim (`claim.ts`): the payload checked again, the row moved to `running` (batched).
 * 2. load inputs (`loadInput.ts`): from the row, the blob store, or the pixels handed over.
 * 3. preprocess (`preprocess.ts`): pixels scaled, or the upload decoded; a tensor request read.
 * 4. batch (`batch.ts`): the input in its model version's next batch.
 * 5. run (`run.ts`): the model taken, 2 to 4 under the attempt's deadline.
 * 6. record (`record.ts`): the result written (batched), its sink copy, or the failure written.
 *
 * A failed attempt becomes what `decideFailedAttempt` (`@inferq/core`, `retrying.ts`) says:
 * failed now (a permanent failure, or the last attempt), retried by the queue, or left to the
 * reconciler (Postgres down on the last attempt). Status changes go through `JobLifecycle`,
 * which announces them. No BullMQ here: the app hands in a {@link QueuedAttempt} and turns a
 * {@link FinalAttemptError} into BullMQ's `UnrecoverableError`.
 */
export class JobPipeline {
  readonly #options: JobPipelineOptions;
  readonly #claims: AttemptClaims;
  readonly #runner: AttemptRunner;
  readonly #recorder: AttemptRecorder;
  readonly #lifecycle: JobLifecycle;
  readonly #shadows: ShadowRuns | undefined;
  /** Per model taken from: its jobs held and running here. */
  readonly #jobs = new Map<string, ModelJobs>();
  /** Per model: its measured throughput here, announced in the heartbeat. */
  readonly #meters = new Map<string, ThroughputMeter>();
  readonly #attemptEnded = new Set<(model: string) => void>();
  readonly stats: WorkerStats = { succeeded: 0, failed: 0, skipped: 0, batches: 0 };

  constructor(options: JobPipelineOptions) {
    this.#options = options;
    const { execution, events, metrics, workerId } = options;
    const tracing = options.tracing ?? disabledTracing;
    this.#lifecycle = new JobLifecycle({ execution, events, jobsFinished: metrics?.jobsFinished });
    const inputs = new InputLoader({ execution, blobs: options.blobs });
    this.#claims = new AttemptClaims({
      lifecycle: this.#lifecycle,
      workerId,
      pixels: options.pixels,
      metrics,
      tracing,
    });
    this.#runner = new AttemptRunner({ inputs, jobTimeoutMs: options.jobTimeoutMs, metrics, tracing });
    this.#recorder = new AttemptRecorder({
      lifecycle: this.#lifecycle,
      workerId,
      blobs: options.blobs,
      maxWriteBatch: options.maxWriteBatch,
      resultWriteRetryMs: options.resultWriteRetryMs,
      tracing,
    });
    this.#shadows = options.shadowResults
      ? new ShadowRuns({ results: options.shadowResults, models: options.models, inputs, logger: options.logger })
      : undefined;
  }

  /** Whether shadow runs are taken (a shadow result store was given); else they are skipped. */
  get takesShadows(): boolean {
    return this.#shadows !== undefined;
  }

  /** Starts counting `model`'s attempts (its queue is being taken from), `concurrency` at most. */
  track(model: string, concurrency: number): void {
    this.#jobs.set(model, { model, held: 0, running: 0, concurrency });
    if (!this.#meters.has(model)) this.#meters.set(model, new ThroughputMeter());
  }

  /** Stops counting `model`'s attempts (its queue was let go); its throughput is kept. */
  untrack(model: string): void {
    this.#jobs.delete(model);
  }

  /** Whether no attempt of `model` is held or running here. */
  idle(model: string): boolean {
    const counts = this.#jobs.get(model);
    return counts === undefined || counts.held + counts.running === 0;
  }

  /** Per served model: jobs held (waiting) and running (preprocessing or in a running batch). */
  modelJobs(): ModelJobs[] {
    return [...this.#jobs.values()].map((entry) => ({
      ...entry,
      throughput: this.#meters.get(entry.model)?.rate() ?? null,
    }));
  }

  /** Calls `listener` with the queue's model each time a primary attempt ended; returns the unsubscribe. */
  onAttemptEnded(listener: (model: string) => void): () => void {
    this.#attemptEnded.add(listener);
    return () => this.#attemptEnded.delete(listener);
  }

  /**
   * One attempt of a job taken from `queueModel`'s queue, in steps: check the payload, claim the
   * row, take the model, run preprocessing and inference under the job's deadline, record the
   * result. Throws {@link FinalAttemptError} when the queue must not retry, a plain error when it
   * should (or the reconciler will).
   */
  async process(job: QueuedAttempt, queueModel: string): Promise<JobOutcome> {
    const payload = await this.#parsePayload(job);
    if (payload.shadow) return this.#shadows ? this.#shadows.run(payload) : { status: 'skipped' };
    // Counted under its queue's model (which its payload names, unless it was put there by hand).
    const counts = this.#jobs.get(queueModel);
    const tracing = this.#options.tracing ?? disabledTracing;
    const span = tracing.startSpan('attempt', {
      parent:
        tracing.enabled && payload.traceparent ? tracing.contextOf({ traceparent: payload.traceparent }) : undefined,
      attributes: tracing.enabled
        ? {
            'inferq.job_id': payload.jobId,
            'inferq.model': payload.model,
            'inferq.attempt': job.attemptsMade + 1,
            'inferq.worker_id': this.#options.workerId,
          }
        : {},
    });
    const attempt: Attempt = {
      payload,
      log: this.#options.logger.child({ jobId: payload.jobId, model: payload.model }),
      userId: null,
      phase: 'held',
      counts,
      span,
    };
    if (counts) counts.held++;
    const meter = this.#meters.get(queueModel);
    meter?.begin();
    let produced = false;
    let lease: ModelLease | undefined;
    try {
      const row = await this.#claims.claim(attempt);
      if (!row) {
        // Canceled, already finished by an earlier attempt, expired, or deleted: nothing to do.
        this.stats.skipped++;
        return { status: 'skipped' };
      }
      lease = await acquireModel(this.#options.models, payload);
      const inference = await this.#runner.run(attempt, row, lease);
      produced = true;
      const written = await this.#recorder.succeed(attempt, lease, inference);
      if (written) this.stats.succeeded++;
      else this.stats.skipped++; // canceled while running: the result is discarded
      attempt.log.debug({ batchSize: inference.batchSize, inferenceMs: Math.round(inference.inferenceMs) }, 'job done');
      return {
        status: written ? 'succeeded' : 'skipped',
        modelVersion: lease.manifest.version,
        engine: inference.engine,
      };
    } catch (error) {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof PermanentFailure ? error.code : (error as Error).message,
      });
      return await this.#failed(attempt, job, error);
    } finally {
      span.end();
      // The version this job ran on may be disposed once no job holds it (hot swap).
      lease?.release();
      attempt.ended = true;
      if (counts) counts[attempt.phase]--;
      meter?.end(produced);
      for (const listener of this.#attemptEnded) listener(queueModel);
    }
  }

  /**
   * A failed attempt: what it becomes is `decideFailedAttempt`'s answer, carried out here. Bad
   * input or a model that rejects it fails the row now and is never retried; anything else (a
   * lost connection, a bug) is retried with backoff while attempts remain, and the last attempt
   * fails the row, unless Postgres is what is down: then the row stays unfinished and the
   * reconciler runs the job again once Postgres is back (a transient code is never a final answer).
   */
  async #failed(attempt: Attempt, job: QueuedAttempt, error: unknown): Promise<never> {
    const { payload, log } = attempt;
    const attemptsMade = job.attemptsMade + 1;
    let attemptError: AttemptError;
    if (error instanceof PermanentFailure) {
      log.warn({ code: error.code, err: error.cause ?? error }, error.message);
      attemptError = { kind: 'permanent', code: error.code, message: error.message };
    } else {
      attemptError = isDatabaseUnavailable(error)
        ? { kind: 'databaseUnavailable', code: 'DATABASE_UNAVAILABLE' }
        : { kind: 'other' };
      log.warn(
        { err: error, attempt: attemptsMade, lastAttempt: attemptsMade >= job.attemptsAllowed },
        'attempt failed',
      );
    }
    const decision = decideFailedAttempt({ error: attemptError, attemptsMade, attemptsAllowed: job.attemptsAllowed });
    if (decision.action === 'fail') {
      this.stats.failed++;
      // Retried while Postgres is unreachable, as a result is; should that run out, the
      // reconciler fails the row with the code the queue keeps as the failed reason.
      await this.#recorder.fail(attempt, decision.code, decision.message);
    } else if (decision.action === 'retry') {
      this.#options.metrics?.jobRetries.inc({ model: payload.model, code: decision.code });
      await this.#recorder.retryLater(attempt, decision.code);
    }
    // The queue keeps the message as the failed reason: exactly the code, which the reconciler reads back.
    if (attemptError.kind === 'permanent') throw new FinalAttemptError(attemptError.code);
    throw new Error(attemptError.kind === 'databaseUnavailable' ? attemptError.code : 'INTERNAL', { cause: error });
  }

  /**
   * The payload checked again at dequeue: an old or foreign one is nothing to retry. Its row is
   * failed when the id can be recovered.
   */
  async #parsePayload(job: QueuedAttempt): Promise<InferenceJobPayload> {
    const parsed = inferenceJobPayloadSchema.safeParse(job.data);
    if (parsed.success) return parsed.data;
    const jobId = job.id;
    if (jobId && isUuid(jobId))
      await this.#lifecycle.failUnreadable(jobId, 'INVALID_JOB_ID', 'The queued payload is not valid.').catch(() => {});
    throw new FinalAttemptError(
      `invalid payload: ${parsed.error.issues.map((issue) => issue.path.join('.')).join(', ')}`,
    );
  }
}
