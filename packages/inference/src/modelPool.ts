import type { Logger } from 'pino';
import { AppError } from '@inferq/core';
import { isTensorManifest, modelProblemOf, type ModelManifest, type ModelRegistry } from '@inferq/models';
import { Batcher } from './batcher.ts';
import type { InferenceEngines } from './inferenceEngines.ts';
import { loadModel, type EnginePreference } from './modelLoader.ts';
import type { Tensor } from '@inferq/tensors';
import type { ServedModel } from './servedModel.ts';

export interface BatchingOptions {
  /** Most inputs in one model call, for models whose manifest sets no `limits.maxBatchSize`. */
  maxBatchSize: number;
  /** Longest the first input of a batch waits for others (manifest `limits.maxDelayMs` wins). */
  maxDelayMs: number;
  /**
   * Most inputs of an image model in one call of its engine: a larger batch runs as several
   * calls, one after another, and is still gathered, started and written as one batch. Like
   * `maxBatchSize`, only for models whose manifest sets no `limits.maxBatchSize`.
   * @defaultValue the whole batch
   */
  callSize?: number;
}

export interface Inference {
  /** An image model's output vector (empty for a tensor model). */
  vector: number[];
  /** A tensor model's outputs for this request, every output of the model, in its order. */
  tensors?: Tensor[];
  /** Wall time of the batch this input ran in. */
  inferenceMs: number;
  batchSize: number;
  /** Time this input waited in the batcher before its batch started. */
  batchWaitMs: number;
  /** The engine that ran it: `onnxruntime-cpu`, `tfjs-wasm`, … */
  engine: string;
}

interface BatchItem {
  /** An image model's input values, or a tensor model's named input tensors. */
  input: Float32Array | readonly Tensor[];
  submittedAt: number;
  /** Called when the batch this input is in starts running. */
  onStart?: ((batch: BatchStart) => void) | undefined;
  tag?: string | undefined;
}

/** What an input's `onStart` learns of the batch it is in. */
export interface BatchStart {
  size: number;
  /** The `tag` of every input in the batch that was given one (the worker's: each job's traceparent), in batch order. */
  tags: readonly string[];
}

/** One loaded version of a model, with its own batcher. */
interface LoadedVersion {
  manifest: ModelManifest;
  model: ServedModel;
  batcher: Batcher<BatchItem, Inference>;
  loadMs: number;
  /** Jobs holding this version right now (from `acquire` to `release`). */
  leases: number;
  /** No longer live (replaced, or an idle pinned version): disposed once `leases` is 0. */
  retired: boolean;
  lastUsedAt: number;
}

/** A swap that has not completed: loading the new live version, or failed to. */
export interface SwapState {
  /** The version LIVE names, being loaded or that failed to load. */
  to: string;
  state: 'loading' | 'failed';
  since: string;
  error?: { code: string; reason?: string; message: string };
}

interface ModelSlot {
  name: string;
  live: LoadedVersion;
  /** Versions loaded besides the live one: the previous live version while its jobs finish, versions jobs pinned. */
  others: Map<string, LoadedVersion>;
  /** Loads in flight, by version, so concurrent requests for one version load it once. */
  loading: Map<string, Promise<LoadedVersion>>;
  swap: SwapState | null;
  /** When a failed swap may be tried again (ms since epoch). */
  retryAt: number;
  /** Being dropped (its model left the registry): no swap starts, and every version is disposed once no job holds it. */
  removed: boolean;
  /** Versions the model's traffic split names besides the live one: kept loaded (never dropped as idle) while it does. */
  inTraffic: Set<string>;
  /** A traffic version that failed to load, and when it may be tried again (ms since epoch). */
  trafficRetryAt: Map<string, number>;
}

/**
 * Told when the models this pool serves change, so that what takes jobs (the worker's queues)
 * follows what is loaded, both ways.
 */
export interface ServedModelsListener {
  /** `name` was loaded (at start, by a retry, or newly published under `*`): its jobs can be taken now. */
  added(name: string): void;
  /**
   * `name` is about to be dropped. Awaited before any of its versions is released, so the
   * listener stops taking its jobs (and lets the ones it holds finish) first.
   */
  removing(name: string): Promise<void>;
}

/** What a job holds while it uses a model version; `release` exactly once when done. */
export interface ModelLease {
  manifest: ModelManifest;
  /**
   * Runs one input in the version's next batch; `onStart` is called when that batch starts, with
   * the tags of the inputs in it (an opaque label of this input, such as its job's traceparent).
   */
  submit(
    input: Float32Array | readonly Tensor[],
    onStart?: (batch: BatchStart) => void,
    tag?: string,
  ): Promise<Inference>;
  release(): void;
}

/** A model this worker should serve but could not load at all (no version of it is served here). */
export interface FailedModel {
  name: string;
  /** The version it tried (the live one), or null when even resolving it failed. */
  version: string | null;
  code: string;
  reason?: string;
  message: string;
  since: string;
}

export interface ModelPoolOptions {
  registry: ModelRegistry;
  logger: Logger;
  /** The engines versions are loaded on (`createInferenceEngines`, built by the process's composition root). */
  engines: InferenceEngines;
  /** Per-engine batch settings (TF.js and ONNX Runtime run differently), or one for all. */
  batching: BatchingOptions | ((engine: string) => BatchingOptions);
  /** Which engine runs versions that both could. @defaultValue 'auto' (ONNX Runtime where it can) */
  engine?: EnginePreference;
  /** Called after each model batch (metrics: batch size, inference time, each input's wait). */
  onBatch?: (batch: { model: string; version: string; size: number; inferenceMs: number; waitsMs: number[] }) => void;
  /** Batch sizes run at load to warm a version up. @defaultValue [1] */
  warmUpBatchSizes?: number[];
  /** A version pinned by jobs (not live) is disposed after this long unused. @defaultValue 60000 */
  pinnedIdleMs?: number;
  /** A failed swap to the same version is tried again after this long. @defaultValue 30000 */
  swapRetryMs?: number;
}

export interface ModelDescription {
  name: string;
  /** The live version this worker serves jobs that name no version with. */
  version: string;
  /** The engine running the live version. */
  engine: string;
  loadMs: number;
  /** Every version loaded here, the live one first. */
  loaded: string[];
  swap: SwapState | null;
  batching: BatchingOptions;
}

/**
 * The models this worker serves, kept warm, each version with its own batcher. Jobs `acquire`
 * a version and `release` it when done; a version is disposed only once no job holds it.
 *
 * Hot swap: `checkForUpdates` (run every few seconds by `watch`) reads each model's live
 * version from the registry. When it changed, the new version is loaded and warmed up in the
 * background while the old one keeps serving; then `live` is switched in one assignment, so each
 * job gets either version whole. Jobs already holding the old version finish on it, and it is
 * disposed (its tensors freed) when the last one releases it. If the new version fails to load,
 * the old one stays live and the failure is reported in `describe()` (and from there in the
 * heartbeat and GET /v1/models); it is tried again after `swapRetryMs`.
 *
 * Jobs pinned to a version that is not live load it on demand; it stays loaded while used and
 * is disposed after `pinnedIdleMs` idle.
 *
 * The set of models follows the registry too: a model that could not load is tried again by the
 * watcher; under `*` a model published under a new name is loaded; a model whose versions are all
 * gone from the registry is dropped. Listeners (`subscribe`) hear of each model added and are
 * awaited before one is dropped, so the worker's queues are exactly the models loaded here.
 */
export class ModelPool {
  #options: ModelPoolOptions;
  readonly #slots = new Map<string, ModelSlot>();
  /** Models that could not load at start (or since): retried by the watcher, reported in `failures()`. */
  readonly #failed = new Map<string, FailedModel & { retryAt: number }>();
  #batchInputs = 0;
  #watchTimer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  /** What `load` was asked for: the names, or `*` (whatever the registry holds, now and later). */
  #wanted: string[] | '*' = [];
  readonly #listeners = new Set<ServedModelsListener>();

  constructor(options: ModelPoolOptions) {
    this.#options = { ...options };
  }

  /**
   * Loads the live version of each named model (`*`: every model in the registry) and warms it
   * up. A model whose live version cannot load (a broken version in the registry) is skipped and
   * reported in `failures()`; the others are served, and the watcher tries it again. Throws only
   * when the registry holds no model at all.
   */
  async load(names: string[] | '*'): Promise<void> {
    const { registry } = this.#options;
    const listed = names === '*' ? await registry.list() : [];
    const wanted = names === '*' ? listed.map((model) => model.name) : names;
    if (wanted.length === 0)
      throw new Error(`no models to serve in ${registry.root}; run \`pnpm models:import\` first`);
    this.#wanted = names === '*' ? '*' : [...names];
    for (const name of wanted) await this.#loadLive(name);
  }

  /** Hears of models added and removed from now on; returns the call that stops it. */
  subscribe(listener: ServedModelsListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Loads `name`'s live version into a new slot, or records why it cannot. */
  async #loadLive(name: string): Promise<boolean> {
    const { registry, logger } = this.#options;
    let version: string | null = null;
    try {
      version = (await registry.resolve(name)).version;
      const live = await this.#loadVersion(name, version);
      const slot: ModelSlot = {
        name,
        live,
        others: new Map(),
        loading: new Map(),
        swap: null,
        retryAt: 0,
        removed: false,
        inTraffic: new Set(),
        trafficRetryAt: new Map(),
      };
      this.#slots.set(name, slot);
      this.#failed.delete(name);
      logger.info(
        { model: name, version, engine: live.model.engine, loadMs: Math.round(live.loadMs) },
        'model loaded and warmed up',
      );
      // The versions its split sends jobs to are warm before this worker takes the model's jobs.
      await this.#warmTraffic(slot);
      for (const listener of this.#listeners) listener.added(name);
      return true;
    } catch (error) {
      const appError = error instanceof AppError ? error : undefined;
      const reason = modelProblemOf(error);
      const previous = this.#failed.get(name);
      const failure = {
        name,
        version,
        code: appError?.code ?? 'INTERNAL',
        ...(reason ? { reason } : {}),
        message: (error as Error).message,
        since: previous?.version === version ? previous.since : new Date().toISOString(),
        retryAt: Date.now() + (this.#options.swapRetryMs ?? 30_000),
      };
      this.#failed.set(name, failure);
      logger.error(
        { model: name, version, err: error },
        'model cannot be loaded; serving the other models, trying it again later',
      );
      return false;
    }
  }

  /** Models this worker should serve but has no version of loaded, and why. */
  failures(): FailedModel[] {
    return [...this.#failed.values()].map(({ retryAt: _retryAt, ...failure }) => failure);
  }

  /**
   * Holds a version of `name` for one job: the live one, or `version` when given (loaded on
   * demand when it is not in memory). Throws MODEL_NOT_FOUND when this worker does not serve the
   * model or the registry has no such version, MODEL_NOT_READY when that version cannot load.
   */
  async acquire(name: string, version?: string): Promise<ModelLease> {
    const slot = this.#slots.get(name);
    const failed = this.#failed.get(name);
    if (!slot && failed)
      throw new AppError('MODEL_NOT_READY', `model "${name}" cannot be loaded on this worker: ${failed.message}`, {
        details: { name, version: failed.version, reason: failed.reason },
      });
    if (!slot)
      throw new AppError('MODEL_NOT_FOUND', `this worker does not serve model "${name}"`, { details: { name } });
    let loaded: LoadedVersion;
    if (version === undefined || version === slot.live.manifest.version) loaded = slot.live;
    else {
      const other = slot.others.get(version);
      loaded =
        other && !other.retired ? other : other ? this.#revive(slot, other) : await this.#loadPinned(slot, version);
    }
    loaded.leases++;
    let released = false;
    return {
      manifest: loaded.manifest,
      submit: (input, onStart, tag) => loaded.batcher.submit({ input, submittedAt: performance.now(), onStart, tag }),
      release: () => {
        if (released) return;
        released = true;
        loaded.leases--;
        loaded.lastUsedAt = Date.now();
        this.#disposeIfDone(slot, loaded);
      },
    };
  }

  /** Checks the registry every `intervalMs` for live versions that changed, and drops idle pinned versions. */
  watch(intervalMs: number): void {
    this.unwatch();
    this.#watchTimer = setInterval(() => void this.checkForUpdates(), intervalMs);
    this.#watchTimer.unref();
  }

  unwatch(): void {
    clearInterval(this.#watchTimer);
    this.#watchTimer = undefined;
  }

  /**
   * One pass of the watcher: starts a swap for each model whose live version changed, and
   * resolves once those swaps are done (switched or failed). Passes never overlap.
   */
  checkForUpdates(): Promise<void> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #check(): Promise<void> {
    const { registry, logger } = this.#options;
    const swaps: Array<Promise<void>> = [];
    // Under `*`, the names the registry holds now: new ones are loaded, failures of gone ones forgotten.
    const listed = this.#wanted === '*' ? await registry.names().catch(() => undefined) : undefined;
    if (listed !== undefined) {
      for (const name of listed)
        if (!this.#slots.has(name) && !this.#failed.has(name)) swaps.push(this.#loadLive(name).then(() => {}));
      for (const name of this.#failed.keys()) if (!listed.includes(name)) this.#failed.delete(name);
    }
    for (const failed of this.#failed.values()) {
      if (this.#slots.has(failed.name)) continue;
      // A fixed LIVE or a new version is tried at once, the same broken one after swapRetryMs.
      const live = await registry.resolve(failed.name).then(
        (resolved) => resolved.version,
        () => null,
      );
      if (live === failed.version && Date.now() < failed.retryAt) continue;
      swaps.push(this.#loadLive(failed.name).then(() => {}));
    }
    for (const slot of this.#slots.values()) {
      if (slot.removed) continue;
      swaps.push(this.#warmTraffic(slot));
      this.#dropIdlePinned(slot);
      let target: string;
      try {
        target = (await registry.resolve(slot.name)).version;
      } catch (error) {
        if (error instanceof AppError && error.code === 'MODEL_NOT_FOUND' && (await this.#registryHoldsModels())) {
          // Every version of it is gone from the registry: stop taking its jobs, then unload it.
          void this.#remove(slot);
          continue;
        }
        // A LIVE naming a broken version, the registry folder unreachable: keep serving.
        logger.warn({ model: slot.name, err: error }, 'cannot read the live version; still serving the loaded one');
        continue;
      }
      if (target === slot.live.manifest.version) {
        if (slot.swap !== null) slot.swap = null; // LIVE was set back: nothing to swap any more
        continue;
      }
      if (slot.swap?.to === target && (slot.swap.state === 'loading' || Date.now() < slot.retryAt)) continue;
      swaps.push(this.#swap(slot, target));
    }
    await Promise.all(swaps);
  }

  /**
   * Whether the registry lists any model: a registry folder that is empty or gone (a volume not
   * mounted) is taken as unreachable, not as every model removed.
   */
  async #registryHoldsModels(): Promise<boolean> {
    return this.#options.registry.names().then(
      (names) => names.length > 0,
      () => false,
    );
  }

  /**
   * Drops a model the registry no longer has: the listeners stop taking its jobs (and let the
   * ones held finish), then each version is disposed once no job holds it. A worker that was
   * asked for it by name reports it as failing to load, and loads it again if it comes back.
   */
  async #remove(slot: ModelSlot): Promise<void> {
    const { logger } = this.#options;
    slot.removed = true;
    logger.info({ model: slot.name }, 'model gone from the registry: no longer taking its jobs');
    await Promise.all(
      [...this.#listeners].map((listener) =>
        listener
          .removing(slot.name)
          .catch((error: unknown) =>
            logger.warn({ model: slot.name, err: error }, 'listener failed while a model was removed'),
          ),
      ),
    );
    if (this.#slots.get(slot.name) === slot) this.#slots.delete(slot.name);
    if (this.#wanted !== '*') {
      const version = slot.live.manifest.version;
      this.#failed.set(slot.name, {
        name: slot.name,
        version: null,
        code: 'MODEL_NOT_FOUND',
        message: `model "${slot.name}" does not exist in the registry (version ${version} was served until it was removed)`,
        since: new Date().toISOString(),
        retryAt: 0,
      });
    }
    for (const loaded of [slot.live, ...slot.others.values()]) {
      loaded.retired = true;
      this.#disposeIfDone(slot, loaded);
    }
    logger.info({ model: slot.name }, 'model unloaded');
  }

  async #swap(slot: ModelSlot, target: string): Promise<void> {
    const { logger } = this.#options;
    const from = slot.live.manifest.version;
    slot.swap = { to: target, state: 'loading', since: new Date().toISOString() };
    logger.info({ model: slot.name, from, to: target }, 'model swap started: loading the new version');
    let next: LoadedVersion;
    try {
      const pinned = slot.others.get(target);
      next = pinned ? this.#revive(slot, pinned) : await this.#loadOnce(slot, target);
    } catch (error) {
      const appError = error instanceof AppError ? error : undefined;
      slot.swap = {
        to: target,
        state: 'failed',
        since: new Date().toISOString(),
        error: {
          code: appError?.code ?? 'INTERNAL',
          ...(modelProblemOf(error) ? { reason: modelProblemOf(error) } : {}),
          message: (error as Error).message,
        },
      };
      slot.retryAt = Date.now() + (this.#options.swapRetryMs ?? 30_000);
      logger.warn(
        { model: slot.name, from, to: target, err: error },
        'model swap failed; still serving the old version',
      );
      return;
    }
    if (slot.removed) {
      // Removed while loading: nothing will ever hold the new version.
      next.retired = true;
      this.#disposeIfDone(slot, next);
      return;
    }
    // LIVE may have moved again while loading; switch only to what is still wanted.
    if (slot.swap?.to !== target) return;
    const previous = slot.live;
    slot.others.delete(target);
    slot.live = next; // the switch: jobs acquiring from now on get the new version
    slot.swap = null;
    previous.retired = true;
    slot.others.set(from, previous);
    logger.info(
      { model: slot.name, from, to: target, loadMs: Math.round(next.loadMs), oldVersionJobs: previous.leases },
      'model version switched',
    );
    this.#disposeIfDone(slot, previous);
  }

  /**
   * Loads and warms every version the model's traffic split names (its weights and its shadow)
   * that is not loaded here, so the API, which routes only to versions some worker reports
   * loaded, never sends a job to a cold one. Versions the split no longer names go back to being
   * ordinary pinned versions (disposed once idle). A version that fails to load is reported in
   * the log and tried again after `swapRetryMs`.
   */
  async #warmTraffic(slot: ModelSlot): Promise<void> {
    const { registry, logger } = this.#options;
    const traffic = await registry.readTraffic(slot.name).catch(() => null);
    const wanted = new Set(
      traffic
        ? [
            ...traffic.split.filter((entry) => entry.weight > 0).map((entry) => entry.version),
            ...(traffic.shadow ? [traffic.shadow] : []),
          ]
        : [],
    );
    wanted.delete(slot.live.manifest.version);
    slot.inTraffic = wanted;
    await Promise.all(
      [...wanted].map(async (version) => {
        const other = slot.others.get(version);
        if (other) {
          if (other.retired) this.#revive(slot, other);
          return;
        }
        if (Date.now() < (slot.trafficRetryAt.get(version) ?? 0)) return;
        try {
          await this.#loadPinned(slot, version);
          slot.trafficRetryAt.delete(version);
        } catch (error) {
          slot.trafficRetryAt.set(version, Date.now() + (this.#options.swapRetryMs ?? 30_000));
          logger.warn(
            { model: slot.name, version, err: error },
            'a version of the traffic split cannot be loaded; it takes no traffic here',
          );
        }
      }),
    );
  }

  /** A retired version asked for again (pinned, or LIVE set back) before it was disposed. */
  #revive(slot: ModelSlot, loaded: LoadedVersion): LoadedVersion {
    loaded.retired = false;
    loaded.lastUsedAt = Date.now();
    return loaded;
  }

  async #loadPinned(slot: ModelSlot, version: string): Promise<LoadedVersion> {
    const loaded = await this.#loadOnce(slot, version);
    if (loaded !== slot.live && !slot.others.has(version)) slot.others.set(version, loaded);
    this.#options.logger.info(
      { model: slot.name, version, loadMs: Math.round(loaded.loadMs) },
      'pinned model version loaded',
    );
    return loaded;
  }

  #loadOnce(slot: ModelSlot, version: string): Promise<LoadedVersion> {
    let pending = slot.loading.get(version);
    if (!pending) {
      pending = this.#loadVersion(slot.name, version).finally(() => slot.loading.delete(version));
      slot.loading.set(version, pending);
    }
    return pending;
  }

  async #loadVersion(name: string, version: string): Promise<LoadedVersion> {
    const started = performance.now();
    const { manifest, location } = await this.#options.registry.resolve(name, version);
    const model = await loadModel(location, manifest, {
      engines: this.#options.engines,
      engine: this.#options.engine ?? 'auto',
    });
    try {
      await model.warmUp(this.#options.warmUpBatchSizes ?? [1]);
    } catch (error) {
      model.dispose();
      throw error;
    }
    const { callSize, maxBatchSize } = this.#batchingFor(manifest, model.engine);
    if (callSize !== undefined && callSize < maxBatchSize) model.limitCallSize(callSize);
    return {
      manifest,
      model,
      batcher: this.#batcherFor(model, manifest),
      loadMs: performance.now() - started,
      leases: 0,
      retired: false,
      lastUsedAt: Date.now(),
    };
  }

  #disposeIfDone(slot: ModelSlot, loaded: LoadedVersion): void {
    if (!loaded.retired || loaded.leases > 0 || (loaded === slot.live && !slot.removed)) return;
    const version = loaded.manifest.version;
    if (slot.others.get(version) === loaded) slot.others.delete(version);
    // No job holds it, so nothing is queued in its batcher: closing is immediate.
    void loaded.batcher.close().finally(() => {
      loaded.model.dispose();
      this.#options.logger.info({ model: slot.name, version }, 'model version disposed');
    });
  }

  #dropIdlePinned(slot: ModelSlot): void {
    const idleMs = this.#options.pinnedIdleMs ?? 60_000;
    for (const loaded of slot.others.values()) {
      if (
        !loaded.retired &&
        loaded.leases === 0 &&
        !slot.inTraffic.has(loaded.manifest.version) &&
        Date.now() - loaded.lastUsedAt >= idleMs
      ) {
        loaded.retired = true;
        this.#disposeIfDone(slot, loaded);
      }
    }
  }

  #batchingFor(manifest: ModelManifest, engine: string): BatchingOptions {
    const batching =
      typeof this.#options.batching === 'function' ? this.#options.batching(engine) : this.#options.batching;
    const maxBatchSize = manifest.limits?.maxBatchSize ?? batching.maxBatchSize;
    return {
      maxBatchSize,
      maxDelayMs: manifest.limits?.maxDelayMs ?? batching.maxDelayMs,
      // A manifest's batch size was chosen for the model as a whole call (`models tune` measures
      // it so); a tensor model's requests are stacked by shape (predictTensors), not split.
      ...(batching.callSize !== undefined && manifest.limits?.maxBatchSize === undefined && !isTensorManifest(manifest)
        ? { callSize: Math.min(batching.callSize, maxBatchSize) }
        : {}),
    };
  }

  #batcherFor(model: ServedModel, manifest: ModelManifest): Batcher<BatchItem, Inference> {
    const latencyBudgetMs = manifest.limits?.latencyBudgetMs;
    return new Batcher<BatchItem, Inference>({
      ...this.#batchingFor(manifest, model.engine),
      // A manifest with a latency budget (set by `models tune`) gets the delay adapted to the arrival rate.
      ...(latencyBudgetMs !== undefined ? { latencyBudgetMs } : {}),
      run: async (items) => {
        const started = performance.now();
        const waitsMs = items.map((item) => started - item.submittedAt);
        const start: BatchStart = {
          size: items.length,
          tags: items.flatMap((item) => (item.tag === undefined ? [] : [item.tag])),
        };
        for (const item of items) item.onStart?.(start);
        this.#batchInputs += items.length;
        let vectors: number[][];
        let tensors: Tensor[][] | undefined;
        try {
          if (items.every((item) => item.input instanceof Float32Array))
            vectors = await model.predictBatch(items.map((item) => item.input as Float32Array));
          else {
            tensors = await model.predictTensors(
              items.map((item) => (item.input instanceof Float32Array ? [] : item.input)),
            );
            vectors = tensors.map(() => []);
          }
        } finally {
          this.#batchInputs -= items.length;
        }
        const inferenceMs = performance.now() - started;
        this.#options.onBatch?.({
          model: manifest.name,
          version: manifest.version,
          size: items.length,
          inferenceMs,
          waitsMs,
        });
        return vectors.map((vector, i) => ({
          vector,
          ...(tensors ? { tensors: tensors[i] as Tensor[] } : {}),
          inferenceMs,
          batchSize: items.length,
          batchWaitMs: waitsMs[i] as number,
          engine: model.engine,
        }));
      },
    });
  }

  /** Inputs in model batches running right now, over all models (0 when idle). */
  get currentBatch(): number {
    return this.#batchInputs;
  }

  get ready(): boolean {
    return this.#slots.size > 0;
  }

  /** Whether `name` is loaded here and not being dropped: its jobs can be taken. */
  serves(name: string): boolean {
    const slot = this.#slots.get(name);
    return slot !== undefined && !slot.removed;
  }

  describe(): ModelDescription[] {
    return [...this.#slots.values()].map((slot) => ({
      name: slot.name,
      version: slot.live.manifest.version,
      engine: slot.live.model.engine,
      loadMs: Math.round(slot.live.loadMs),
      loaded: [
        slot.live.manifest.version,
        ...[...slot.others.values()].filter((v) => !v.retired).map((v) => v.manifest.version),
      ],
      swap: slot.swap,
      batching: this.#batchingFor(slot.live.manifest, slot.live.model.engine),
    }));
  }

  dispose(): void {
    this.unwatch();
    for (const slot of this.#slots.values()) {
      slot.live.model.dispose();
      for (const other of slot.others.values()) other.model.dispose();
    }
    this.#slots.clear();
  }
}
