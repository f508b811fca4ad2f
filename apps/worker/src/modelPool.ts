import type { Logger } from 'pino';
import type { ModelManifest, ModelRegistry } from '@inferq/models';
import { Batcher, loadModel, type ServedModel } from '@inferq/inference';

export interface BatchingOptions {
  /** @defaultValue 8 */
  maxBatchSize: number;
  /** @defaultValue 5 */
  maxDelayMs: number;
}

export interface Inference {
  vector: number[];
  /** Wall time of the batch this input ran in. */
  inferenceMs: number;
  batchSize: number;
}

interface PoolEntry {
  manifest: ModelManifest;
  model: ServedModel;
  batcher: Batcher<Float32Array, Inference>;
  loadMs: number;
}

export interface ModelPoolOptions {
  registry: ModelRegistry;
  logger: Logger;
  batching: BatchingOptions;
  /** Called after each model batch (metrics: batch size and inference time). */
  onBatch?: (batch: { model: string; size: number; inferenceMs: number }) => void;
}

/**
 * The models this worker serves, loaded once and kept warm, each with its own batcher.
 * Keyed by name; a job that asks for a version this worker does not hold cannot run here.
 */
export class ModelPool {
  readonly #options: ModelPoolOptions;
  readonly #entries = new Map<string, PoolEntry>();
  #batchInputs = 0;

  constructor(options: ModelPoolOptions) {
    this.#options = options;
  }

  /** Loads the live version of each named model (`*`: every model in the registry) and warms it up. */
  async load(names: string[] | '*'): Promise<void> {
    const { registry, logger } = this.#options;
    const wanted = names === '*' ? (await registry.list()).map((model) => model.name) : names;
    if (wanted.length === 0) throw new Error(`no models to serve in ${registry.root}; run \`pnpm models:import\` first`);
    for (const name of wanted) {
      const started = performance.now();
      const { manifest, location } = await registry.resolve(name);
      const model = await loadModel(location, manifest);
      await model.warmUp();
      const loadMs = performance.now() - started;
      this.#entries.set(name, { manifest, model, batcher: this.#batcherFor(model, manifest), loadMs });
      logger.info({ model: name, version: manifest.version, loadMs: Math.round(loadMs) }, 'model loaded and warmed up');
    }
  }

  #batcherFor(model: ServedModel, manifest: ModelManifest): Batcher<Float32Array, Inference> {
    const { batching } = this.#options;
    return new Batcher<Float32Array, Inference>({
      maxBatchSize: manifest.limits?.maxBatchSize ?? batching.maxBatchSize,
      maxDelayMs: manifest.limits?.maxDelayMs ?? batching.maxDelayMs,
      run: async (inputs) => {
        const started = performance.now();
        this.#batchInputs += inputs.length;
        let vectors: number[][];
        try {
          vectors = await model.predictBatch(inputs);
        } finally {
          this.#batchInputs -= inputs.length;
        }
        const inferenceMs = performance.now() - started;
        this.#options.onBatch?.({ model: manifest.name, size: inputs.length, inferenceMs });
        return vectors.map((vector) => ({ vector, inferenceMs, batchSize: inputs.length }));
      },
    });
  }

  get(name: string): PoolEntry | undefined {
    return this.#entries.get(name);
  }

  /** Inputs in model batches running right now, over all models (0 when idle). */
  get currentBatch(): number {
    return this.#batchInputs;
  }

  get ready(): boolean {
    return this.#entries.size > 0;
  }

  describe(): Array<{ name: string; version: string; loadMs: number }> {
    return [...this.#entries.entries()].map(([name, entry]) => ({ name, version: entry.manifest.version, loadMs: Math.round(entry.loadMs) }));
  }

  dispose(): void {
    for (const entry of this.#entries.values()) entry.model.dispose();
    this.#entries.clear();
  }
}
