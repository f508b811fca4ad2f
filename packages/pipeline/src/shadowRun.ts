import type { Logger } from 'pino';
import type { InferenceJobPayload } from '@inferq/core';
import type { ShadowResults } from '@inferq/db';
import { imageToInput } from '@inferq/images';
import type { ModelLease, ModelPool } from '@inferq/inference';
import { imageInputOf } from '@inferq/models';
import { PermanentFailure, type JobOutcome } from './attempt.ts';
import type { InputLoader } from './loadInput.ts';
import { recordedOutput } from './record.ts';
import { acquireModel } from './run.ts';

export interface ShadowRunsOptions {
  /** Where shadow runs write what they made. */
  results: ShadowResults;
  models: Pick<ModelPool, 'acquire'>;
  inputs: InputLoader;
  logger: Logger;
}

/**
 * A shadow run: the job's stored upload on the shadow version, its outcome written to
 * `job_shadow_results` and nowhere else. The job's row, status, events and webhooks are the
 * primary's alone; a failure is recorded as the shadow's (it counts against the candidate's
 * error rate) and never retried. A job deleted meanwhile is skipped.
 */
export class ShadowRuns {
  readonly #options: ShadowRunsOptions;

  constructor(options: ShadowRunsOptions) {
    this.#options = options;
  }

  async run(payload: InferenceJobPayload): Promise<JobOutcome> {
    const version = payload.modelVersion;
    if (version === undefined) return { status: 'skipped' };
    const store = this.#options.results;
    const bytes = await this.#options.inputs.stored(payload.jobId, null);
    if (!bytes) return { status: 'skipped' };
    const record = { jobId: payload.jobId, modelName: payload.model, modelVersion: version };
    let lease: ModelLease | undefined;
    try {
      lease = await acquireModel(this.#options.models, payload);
      let input: Float32Array;
      try {
        input = await imageToInput(bytes, imageInputOf(lease.manifest));
      } catch (error) {
        throw new PermanentFailure('PREPROCESSING_FAILED', 'The image could not be turned into model input.', {
          cause: error,
        });
      }
      const inference = await lease.submit(input).catch((error: unknown) => {
        throw new PermanentFailure('INFERENCE_FAILED', 'The model rejected this input.', { cause: error });
      });
      // Stored as the primary's result row is, so the comparison reads both alike.
      const decoded = recordedOutput(lease, inference);
      await store.write({
        ...record,
        output: decoded.output,
        labels: decoded.labels,
        inferenceMs: inference.inferenceMs,
      });
      return { status: 'succeeded', modelVersion: version, engine: inference.engine };
    } catch (error) {
      if (!(error instanceof PermanentFailure)) throw error;
      this.#options.logger.warn(
        { jobId: payload.jobId, model: payload.model, version, code: error.code, err: error.cause ?? error },
        'shadow run failed',
      );
      await store.write({ ...record, errorCode: error.code });
      return { status: 'succeeded', modelVersion: version };
    } finally {
      lease?.release();
    }
  }
}
