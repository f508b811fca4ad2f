import type { PublishManifest } from '@inferq/models';
import { mnistLabels, mnistSide } from './mnistData.ts';

export const mnistModelName = 'mnist';

/**
 * How the served MNIST model reads an image: greyscale, stretched to 28×28, scaled to [0, 1],
 * white digit on black as in MNIST itself (a black-on-white scan must be inverted by the client).
 * The model is tiny (about 0.1 ms an image), so batches up to 32 cost little wait on any backend.
 */
export function mnistManifest(metrics: Record<string, number>, source: string): Omit<PublishManifest, 'format'> {
  return {
    input: {
      width: mnistSide,
      height: mnistSide,
      channels: 1,
      resize: 'fill',
      resizeKernel: 'lanczos3',
      scale: { mode: 'divide', divisor: 255 },
    },
    output: { kind: 'classification', labels: [...mnistLabels], activation: 'softmax' },
    source,
    metrics,
    // pnpm bench batching: on wasm this model runs 8× more images/s at batch 32 than at 1 (per-call
    // overhead dominates such a small network), at a p50 of 1.5 ms.
    limits: { maxBatchSize: 32, maxDelayMs: 2 },
  };
}
