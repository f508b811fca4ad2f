import type { BackendKind } from './backend.ts';
import type { OnnxProvider } from './onnxRuntime.ts';

export interface BatchingDefaults {
  maxBatchSize: number;
  maxDelayMs: number;
  /** Most inputs in one call of the engine; a larger batch runs as several calls. @defaultValue the whole batch */
  callSize?: number;
}

/**
 * Batch settings for a worker whose MAX_BATCH_SIZE / MAX_BATCH_DELAY_MS are not set, by backend.
 * Measured with `pnpm bench batching` (docs/benchmarks.md, "Dynamic batching"):
 * - wasm runs one thread: a batch of n costs about n single images, so batching buys no
 *   throughput and only adds wait. 1 keeps latency lowest.
 * - cpu (plain JS) is the same, only slower.
 * - tensorflow (libtensorflow on all cores) gains from moderate batches.
 * - tensorflow-gpu: a GPU is idle between small calls; large batches are where its throughput is.
 * A model's manifest `limits` override these (the tiny MNIST model batches 32 on any backend).
 */
export const batchingDefaults: Record<BackendKind, BatchingDefaults> = {
  'tensorflow-gpu': { maxBatchSize: 32, maxDelayMs: 10 },
  tensorflow: { maxBatchSize: 8, maxDelayMs: 5 },
  wasm: { maxBatchSize: 1, maxDelayMs: 0 },
  cpu: { maxBatchSize: 1, maxDelayMs: 0 },
};

/**
 * The same for ONNX Runtime, by execution provider (`pnpm bench raw` / `pnpm bench batching`,
 * docs/models/engines.md):
 * - cpu: MLAS with its threads already spread over a call; a call of n images of a large model
 *   costs more than n calls of one (nsfw on one thread: 8.0 ms an image at 1, 9.1 at 2, 9.5 at 4,
 *   10.0 at 8), so a batch of 4 jobs is gathered, started and written as one but runs as calls of
 *   one image. A batch size from the manifest or MAX_BATCH_SIZE runs as whole calls: a small model
 *   (MNIST's manifest sets 32) gains from large calls, where the per-call cost dominates.
 *   End to end (`pnpm bench e2e`, against `--worker-env MODEL_CALL_SIZE=4`, docs/benchmarks.md):
 *   within the noise at 16 clients, whose batches hold 1.4 jobs on average; 1.07× the jobs/s at
 *   64 clients, where they fill.
 * - cuda / tensorrt / webgpu: a GPU is idle between small calls; throughput grows with the batch
 *   up to 64 or more (scripts/gpu-check.sh measures 1…256 on a lent GPU).
 */
export const onnxBatchingDefaults: Record<OnnxProvider, BatchingDefaults> = {
  tensorrt: { maxBatchSize: 64, maxDelayMs: 10 },
  cuda: { maxBatchSize: 64, maxDelayMs: 10 },
  webgpu: { maxBatchSize: 32, maxDelayMs: 10 },
  cpu: { maxBatchSize: 4, maxDelayMs: 2, callSize: 1 },
};
