import type { Logger } from 'pino';
import type { ErrorCode } from '@inferq/core';
import { isDatabaseUnavailable } from '@inferq/db';
import { Batcher, decodeOutput, type Inference, type ModelLease } from '@inferq/inference';
import type { JobLifecycle, SucceedingJob } from '@inferq/lifecycle';
import { isTensorManifest } from '@inferq/models';
import { readOutputs, selectOutputs, toProtocolOutput, type InferRequest, type TensorResult } from '@inferq/tensors';
import { resultSinkKey, type BlobStore } from '@inferq/storage';
import { disabledTracing, type Tracing } from '@inferq/tracing';
import type { Attempt } from './attempt.ts';

export interface AttemptRecorderOptions {
  /** Writes the status changes and announces them. */
  lifecycle: JobLifecycle;
  workerId: string;
  /** Where result sink copies go. @defaultValue none: a sink asked for is logged and skipped */
  blobs?: BlobStore | undefined;
  /** Results written to Postgres in one statement at most. @defaultValue 64 */
  maxWriteBatch?: number | undefined;
  /**
   * How long a computed result (or a failure) keeps being written while Postgres is unreachable
   * before the write is given up. @defaultValue 60000
   */
  resultWriteRetryMs?: number | undefined;
  /** @defaultValue disabledTracing */
  tracing?: Tracing | undefined;
}

/** What a result row stores: the output, and the top labels where the model has them. */
export interface RecordedOutput {
  output: number[][] | TensorResult;
  labels: unknown;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What the result row stores. An image model: its output vector and top labels. A tensor model:
 * the outputs the request asked for, in the protocol's shape, and the manifest reader's reading
 * of all of them; a classification reading's first row is also the job's top labels. Shadow runs
 * store theirs the same way, so a comparison reads both alike.
 */
export function recordedOutput(
  lease: Pick<ModelLease, 'manifest'>,
  inference: Inference & { request?: InferRequest },
): RecordedOutput {
  const { manifest } = lease;
  if (!isTensorManifest(manifest) || !inference.tensors || !inference.request) {
    const decoded = decodeOutput(inference.vector, manifest);
    return { output: [decoded.scores], labels: decoded.top };
  }
  const reading = readOutputs(manifest.reader, inference.tensors);
  const outputs = selectOutputs(inference.tensors, inference.request.outputs).map(toProtocolOutput);
  return {
    output: { outputs, reading },
    labels:
      reading.kind === 'classification' ? (reading.top[0] ?? []).map(({ label, score }) => ({ label, score })) : null,
  };
}

/**
 * Step 6, record: the result write (batched with the others finishing now), the result sink
 * copy, and the failure write; both writes retried while Postgres is unreachable (the inference
 * is done and worth keeping), through the `JobLifecycle`, which announces what changed.
 */
export class AttemptRecorder {
  readonly #options: AttemptRecorderOptions;
  readonly #writer: Batcher<SucceedingJob, { announced: Promise<void> } | null>;

  constructor(options: AttemptRecorderOptions) {
    this.#options = options;
    // Results of jobs that finish together are written in one statement.
    this.#writer = new Batcher<SucceedingJob, { announced: Promise<void> } | null>({
      maxBatchSize: options.maxWriteBatch ?? 64,
      maxDelayMs: 0,
      run: (jobs) => options.lifecycle.succeed(jobs),
    });
  }

  /**
   * Writes the attempt's result; then, when the row moved to `succeeded`, its sink copy, before
   * `succeeded` is announced. False when the row was final already (canceled meanwhile, or
   * finished by another attempt): the result is discarded.
   */
  async succeed(
    attempt: Attempt,
    lease: ModelLease,
    inference: Inference & { request?: InferRequest },
  ): Promise<boolean> {
    const { payload, log, userId } = attempt;
    const decoded = recordedOutput(lease, inference);
    const resultPrefix = attempt.resultPrefix;
    const tracing = this.#options.tracing ?? disabledTracing;
    const written = await tracing.inSpan('result write', { parent: attempt.span }, () =>
      this.#whilePostgresDown(log, 'result', () =>
        this.#writer.submit({
          id: payload.jobId,
          userId,
          model: payload.model,
          workerId: this.#options.workerId,
          inferenceMs: inference.inferenceMs,
          // Preprocessing and the wait for the batch: queue wait + held + inference ≈ total.
          ...(attempt.startedAt !== undefined && attempt.batchStartedAt !== undefined
            ? { heldMs: attempt.batchStartedAt - attempt.startedAt }
            : {}),
          result: {
            modelName: lease.manifest.name,
            modelVersion: lease.manifest.version,
            engine: inference.engine,
            output: decoded.output,
            labels: decoded.labels,
          },
          ...(resultPrefix
            ? { beforeAnnounce: () => this.#writeResultCopy(attempt, resultPrefix, lease, inference, decoded) }
            : {}),
        }),
      ),
    );
    if (!written) return false;
    await written.announced;
    return true;
  }

  /**
   * Fails the job's row with `code`, retrying while Postgres is unreachable like a result write.
   * Returns whether the row changed (false when it was final already, or the write gave up: then
   * the reconciler fails it with the code the queue keeps as the failed reason).
   */
  async fail(attempt: Attempt, code: ErrorCode, message: string): Promise<boolean> {
    const { payload, log, userId } = attempt;
    try {
      return await this.#whilePostgresDown(log, 'failure', () =>
        this.#options.lifecycle.fail({ id: payload.jobId, userId, model: payload.model }, code, message),
      );
    } catch (error) {
      log.error({ err: error, code }, 'failure write failed; the reconciler will fail the row');
      return false;
    }
  }

  /** Records an attempt's error before BullMQ retries it (the row goes back to `queued`); best effort. */
  async retryLater(attempt: Attempt, code: ErrorCode): Promise<void> {
    await this.#options.lifecycle
      .retryAttempt(attempt.payload.jobId, code, 'Attempt failed; retrying.')
      .catch(() => {});
  }

  /**
   * The result sink: the result JSON also goes to `results/<prefix>/<id>.json` in the blob store.
   * The job has succeeded already (the row is the record); a copy that cannot be written is
   * logged and not retried.
   */
  async #writeResultCopy(
    attempt: Attempt,
    prefix: string,
    lease: ModelLease,
    inference: Inference,
    decoded: RecordedOutput,
  ): Promise<void> {
    const blobs = this.#options.blobs;
    if (!blobs) {
      attempt.log.warn(
        { resultPrefix: prefix },
        'result sink asked for, but this worker has no blob store (BLOB_STORE_URL)',
      );
      return;
    }
    const copy = {
      id: attempt.payload.jobId,
      status: 'succeeded',
      model: { name: lease.manifest.name, version: lease.manifest.version, engine: inference.engine },
      result: { output: decoded.output, top: decoded.labels ?? null },
      finishedAt: new Date().toISOString(),
    };
    await blobs
      .put(resultSinkKey(attempt.payload.jobId, prefix), Buffer.from(JSON.stringify(copy)), {
        contentType: 'application/json',
      })
      .catch((error: unknown) => {
        attempt.log.warn(
          { err: error, resultPrefix: prefix },
          'the result copy could not be written to the blob store',
        );
      });
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
}
