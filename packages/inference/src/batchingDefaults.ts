import type { BackendKind } from './backend.ts';
import type { OnnxProvider } from './onnxRuntime.ts';

export interface BatchingDefaults {
  maxBatchSize: number;
  maxDelayMs: number;
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
 * - cpu: MLAS with its threads already spread over a call; a batch of n costs about n images on
 *   few cores, so small batches (up to 4) trade no throughput for little wait.
 * - cuda / tensorrt / webgpu: a GPU is idle between small calls; throughput grows with the batch
 *   up to 64 or more (scripts/gpu-check.sh measures 1…256 on a lent GPU).
 */
export const onnxBatchingDefaults: Record<OnnxProvider, BatchingDefaults> = {
  tensorrt: { maxBatchSize: 64, maxDelayMs: 10 },
  cuda: { maxBatchSize: 64, maxDelayMs: 10 },
  webgpu: { maxBatchSize: 32, maxDelayMs: 10 },
  cpu: { maxBatchSize: 4, maxDelayMs: 2 },
};
