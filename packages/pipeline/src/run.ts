import { AppError, defaultInferenceJobPolicy, type InferenceJobPayload } from '@inferq/core';
import type { Inference, ModelLease, ModelPool } from '@inferq/inference';
import type { WorkerMetrics } from '@inferq/metrics';
import { isTensorManifest, type ModelManifest } from '@inferq/models';
import type { InferRequest } from '@inferq/tensors';
import { disabledTracing, type Tracing } from '@inferq/tracing';
import { enterPhase, PermanentFailure, type Attempt, type ClaimedJob } from './attempt.ts';
import { runInBatch } from './batch.ts';
import { pixelsOf, type InputLoader } from './loadInput.ts';
import { imageInputFor, preprocessImage, preprocessTensors } from './preprocess.ts';

/**
 * Settles like `work`, or rejects with `onTimeout()` after `ms`. The work itself cannot be
 * interrupted (a model call runs to its end), but the attempt, and with it the worker's slot, is
 * released; a result that arrives later is dropped by the conditional row updates. A synchronous
 * model call keeps the timer from firing until it returns, so work that settles after its
 * deadline counts as timed out too: the rule is the elapsed time, not which callback ran first.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
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

/**
 * How long an attempt may spend preprocessing and in the model, and the failure past it: the
 * model's `limits.timeoutMs`, else the worker's, else the job catalog's (TIMEOUT); the submit's
 * Cancel-After when it is the tighter one (DEADLINE_EXCEEDED).
 */
export function attemptDeadline(
  manifest: Pick<ModelManifest, 'limits'>,
  cancelAfterMs: number | null,
  jobTimeoutMs?: number,
): { ms: number; failure: () => PermanentFailure } {
  const timeoutMs = manifest.limits?.timeoutMs ?? jobTimeoutMs ?? defaultInferenceJobPolicy.timeoutMs;
  if (cancelAfterMs !== null && cancelAfterMs < timeoutMs) {
    return {
      ms: cancelAfterMs,
      failure: () =>
        new PermanentFailure('DEADLINE_EXCEEDED', `The job ran longer than its Cancel-After of ${cancelAfterMs} ms.`),
    };
  }
  return {
    ms: timeoutMs,
    failure: () => new PermanentFailure('TIMEOUT', `The job ran longer than its limit of ${timeoutMs} ms.`),
  };
}

/**
 * The live version of the job's model, or the version it is pinned to (loaded on demand).
 * A model or version the registry does not have fails at once with UNKNOWN_MODEL; a version
 * that exists but cannot load fails with MODEL_NOT_READY (retrying will not fix its files).
 */
export async function acquireModel(
  models: Pick<ModelPool, 'acquire'>,
  payload: InferenceJobPayload,
): Promise<ModelLease> {
  try {
    return await models.acquire(payload.model, payload.modelVersion);
  } catch (error) {
    if (error instanceof AppError && error.code === 'MODEL_NOT_FOUND') {
      const what = payload.modelVersion
        ? `Version ${payload.modelVersion} of ${payload.model}`
        : `The model ${payload.model}`;
      throw new PermanentFailure('UNKNOWN_MODEL', `${what} is not served.`, { cause: error });
    }
    if (error instanceof AppError && error.code === 'MODEL_NOT_READY') {
      throw new PermanentFailure(
        'MODEL_NOT_READY',
        `Version ${payload.modelVersion ?? '(live)'} of ${payload.model} cannot be loaded.`,
        { cause: error },
      );
    }
    throw error;
  }
}

export interface AttemptRunnerOptions {
  inputs: InputLoader;
  /**
   * Longest an attempt may spend preprocessing and in the model before it fails with TIMEOUT,
   * for models whose manifest sets no `limits.timeoutMs`. @defaultValue 60000 (the job catalog's)
   */
  jobTimeoutMs?: number | undefined;
  metrics?: WorkerMetrics | undefined;
  /** @defaultValue disabledTracing */
  tracing?: Tracing | undefined;
}

/**
 * Step 5, run: loads the input, preprocesses it and runs it in its batch, under the attempt's
 * deadline (see {@link attemptDeadline}).
 */
export class AttemptRunner {
  readonly #options: AttemptRunnerOptions;

  constructor(options: AttemptRunnerOptions) {
    this.#options = options;
  }

  async run(attempt: Attempt, row: ClaimedJob, lease: ModelLease): Promise<Inference & { request?: InferRequest }> {
    if (!row.hasInput) throw new PermanentFailure('INPUT_MISSING', 'The stored input of this job is gone.');
    const deadline = attemptDeadline(lease.manifest, row.cancelAfterMs, this.#options.jobTimeoutMs);
    return withDeadline(this.#compute(attempt, row, lease), deadline.ms, deadline.failure);
  }

  async #compute(
    attempt: Attempt,
    row: ClaimedJob,
    lease: ModelLease,
  ): Promise<Inference & { request?: InferRequest }> {
    const { inputs, metrics } = this.#options;
    const tracing = this.#options.tracing ?? disabledTracing;
    const model = attempt.payload.model;
    enterPhase(attempt, 'running');
    if (isTensorManifest(lease.manifest)) {
      // Run in the model's next batch, stacked with the requests of the same shape on the batch axis.
      const request = preprocessTensors(await inputs.bytesOf(attempt.payload.jobId, row));
      metrics?.preprocessed.inc({ model, source: 'tensor' });
      return { ...(await runInBatch(attempt, lease, request.inputs, tracing)), request };
    }
    const imageInput = imageInputFor(lease.manifest);
    const { input } = await preprocessImage(
      imageInput,
      pixelsOf(row),
      () => inputs.bytesOf(attempt.payload.jobId, row),
      (source) => metrics?.preprocessed.inc({ model, source }),
    );
    return runInBatch(attempt, lease, input, tracing);
  }
}
