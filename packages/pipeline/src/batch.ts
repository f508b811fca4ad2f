import type { Inference, ModelLease } from '@inferq/inference';
import type { Tensor } from '@inferq/tensors';
import type { Span, Tracing } from '@inferq/tracing';
import { enterPhase, PermanentFailure, type Attempt } from './attempt.ts';

/**
 * Step 4, batch: one attempt's input in its model version's next batch (the version's `Batcher`
 * groups the inputs that arrive together into one model call). The attempt is held again until
 * its batch starts (the batcher may be running the one before), then running. A model that
 * rejects the input fails with INFERENCE_FAILED (the batcher has retried it alone by then, so
 * one poison input fails only itself).
 */
export async function runInBatch(
  attempt: Attempt,
  lease: ModelLease,
  input: Float32Array | readonly Tensor[],
  tracing: Tracing,
): Promise<Inference> {
  try {
    enterPhase(attempt, 'held');
    // The batch as this job saw it: from its start to this job's output (one span per job,
    // under its attempt; its size says how many jobs it served, and its links which: the
    // attempt span of each, in that job's own trace).
    let batch: Span | undefined;
    const carried = tracing.carrier(attempt.span);
    try {
      const inference = await lease.submit(
        input,
        ({ tags }) => {
          attempt.batchStartedAt = performance.now();
          enterPhase(attempt, 'running');
          batch = tracing.startSpan('batch', {
            parent: attempt.span,
            links: tags.map((traceparent) => ({ traceparent })),
          });
        },
        carried?.traceparent,
      );
      if (batch?.isRecording())
        batch.setAttributes({
          'inferq.batch_size': inference.batchSize,
          'inferq.engine': inference.engine,
          'inferq.inference_ms': inference.inferenceMs,
        });
      return inference;
    } finally {
      batch?.end();
    }
  } catch (error) {
    throw new PermanentFailure('INFERENCE_FAILED', 'The model rejected this input.', { cause: error });
  }
}
