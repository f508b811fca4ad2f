import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  AppError,
  type ModelsView,
  type ModelView,
  type PublishModelVersionBody,
  type WorkerHeartbeat,
} from '@inferq/core';
import {
  downloadModel,
  isRemoteLocation,
  modelManifestSchema,
  modelNamePattern,
  modelVersionPattern,
  type DownloadModelOptions,
  manifestFileName,
  modelJsonFileName,
  weightPathsOf,
  type ModelEntry,
  type ModelRegistry,
  type PublishManifest,
  type PublishResult,
  addOnnxModel,
  type AddOnnxModelResult,
} from '@inferq/models';
import type { WorkerRegistry } from '@inferq/queue';
import { modelMetadata, type ModelMetadata } from '@inferq/tensors';

export interface ModelServiceOptions {
  registry: ModelRegistry;
  /** Worker heartbeats: which worker has which version loaded. */
  workers: WorkerRegistry;
  /** How a version registered by URL is downloaded (hosts allowed, bounds). @defaultValue public https hosts, 512 MiB, 5 minutes */
  download?: ModelDownloadOptions;
}

/** The settings of downloading a model registered by URL; see `downloadModel`. */
export type ModelDownloadOptions = Omit<DownloadModelOptions, 'into' | 'format'>;

/** What a version serves to browsers, read once: versions are immutable. */
interface ServedVersion {
  root: string;
  sha256: string;
  shards: Set<string>;
}

/** A file of a model version that may be served to browsers. */
export interface ModelFileRef {
  /** The version's folder. */
  root: string;
  /** The file, relative to `root` (`/`-separated). */
  file: string;
  contentType: string;
  /** The version's content hash, a strong validator for the immutable file. */
  sha256: string;
}

/**
 * The models side of the API: the listing (registry + worker heartbeats), publishing a version,
 * switching the live one, and the files browsers load. Workers notice a new live version on
 * their own (they watch the registry) and swap without downtime.
 */
export class ModelService {
  readonly #options: ModelServiceOptions;
  readonly #served = new Map<string, ServedVersion | null>();

  constructor(options: ModelServiceOptions) {
    this.#options = options;
  }

  async list(): Promise<ModelsView> {
    const [entries, workers] = await Promise.all([this.#options.registry.list(), this.#liveWorkers()]);
    return {
      models: entries.map((entry) => toModelView(entry, workers)),
      workers: workers.map((worker) => ({
        workerId: worker.workerId,
        host: worker.host,
        backend: worker.backend,
        onnxRuntime: worker.onnxRuntime
          ? { provider: worker.onnxRuntime.provider, skipped: worker.onnxRuntime.skipped }
          : null,
        models: worker.models.map((model) => ({
          name: model.name,
          version: model.version,
          engine: model.engine ?? null,
          loaded: model.loaded ?? [model.version],
        })),
      })),
    };
  }

  async get(name: string): Promise<ModelView> {
    const { models } = await this.list();
    const model = models.find((entry) => entry.name === name);
    if (!model) throw new AppError('MODEL_NOT_FOUND', `model "${name}" does not exist`, { details: { name } });
    return model;
  }

  /**
   * Registers a version from a TF.js model.json URL: checks the name, version and manifest, then
   * downloads model.json and its shards into a staging folder (public hosts only unless allowed,
   * bounded in bytes and time, see `downloadModel`), checks it is a real model, hashes it and
   * moves it into place. The same files again is fine (`unchanged`); other files under an
   * existing version are CONFLICT (versions are immutable). Nothing is kept on any failure.
   */
  async publishFromUrl(name: string, body: PublishModelVersionBody): Promise<PublishResult> {
    // Everything the request alone can say is checked before anything is fetched.
    if (!modelNamePattern.test(name))
      throw new AppError(
        'VALIDATION_FAILED',
        'The model name must be lowercase letters, digits, "_" and "-", at most 64.',
        { details: { field: 'name' } },
      );
    if (!modelVersionPattern.test(body.version))
      throw new AppError(
        'VALIDATION_FAILED',
        'The version must be letters, digits, ".", "_", "+" and "-", at most 64.',
        { details: { field: 'version' } },
      );
    const manifest = {
      format: body.format,
      input: body.input,
      output: body.output,
      ...(body.source !== undefined ? { source: body.source } : { source: body.url }),
      ...(body.metrics !== undefined ? { metrics: body.metrics } : {}),
      ...(body.limits !== undefined ? { limits: body.limits } : {}),
    } as PublishManifest;
    const manifestCheck = modelManifestSchema.safeParse({
      ...manifest,
      name,
      version: body.version,
      sha256: '0'.repeat(64),
      createdAt: new Date().toISOString(),
    });
    if (!manifestCheck.success) {
      throw new AppError('VALIDATION_FAILED', 'The model manifest is not valid.', {
        details: {
          issues: manifestCheck.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
        },
      });
    }
    const registry = this.#options.registry;
    const folder = await registry.createStagingFolder();
    try {
      await downloadModel(body.url, { ...this.#options.download, into: folder, format: body.format });
      return await registry.publishFolder({ name, version: body.version, folder, manifest, setLive: body.live });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }

  /**
   * The protocol's metadata of a model version (the live one when none is named): its inputs and
   * outputs. MODEL_NOT_FOUND for a model or version the registry does not have.
   */
  async metadata(name: string, version?: string): Promise<ModelMetadata> {
    const { registry } = this.#options;
    const resolved = await registry.resolve(name, version).catch(() => {
      throw new AppError(
        'MODEL_NOT_FOUND',
        version === undefined ? `model "${name}" does not exist` : `model "${name}" has no version "${version}"`,
        { details: { name, version } },
      );
    });
    const entry = (await registry.list()).find((model) => model.name === name);
    return modelMetadata(resolved.manifest, entry?.versions.map((v) => v.version) ?? [resolved.manifest.version]);
  }

  /** Whether a live worker has the version (the live one when none is named) loaded. MODEL_NOT_FOUND as `metadata`. */
  async ready(name: string, version?: string): Promise<boolean> {
    const view = await this.get(name);
    const wanted = version ?? view.liveVersion;
    const found = view.versions.find((entry) => entry.version === wanted);
    if (!found)
      throw new AppError('MODEL_NOT_FOUND', `model "${name}" has no version "${wanted ?? ''}"`, {
        details: { name, version: wanted },
      });
    return found.workersReady > 0;
  }

  /**
   * Adds an uploaded ONNX file as a tensor model version (the admin CLI's `models add`): the
   * signature read from the file, the manifest written, a new model made live.
   */
  addOnnx(
    name: string,
    options: { version?: string | undefined; bytes: Uint8Array; reader?: unknown; limits?: unknown },
  ): Promise<AddOnnxModelResult> {
    return addOnnxModel(this.#options.registry, { name, ...options, source: 'upload' });
  }

  /** Makes `version` live; workers pick it up within their watch interval. */
  async setLive(name: string, version: string): Promise<ModelView> {
    await this.#options.registry.setLive(name, version);
    return this.get(name);
  }

  /**
   * A file of a local model version that browsers may load: model.json, manifest.json or a
   * weight shard model.json names. Anything else is NOT_FOUND (no directory listing, no other
   * files, no path tricks: names are checked before any disk access). A version's files never
   * change, so what it serves is read once (registry, manifest, model.json) and then answered
   * from memory.
   */
  async modelFile(name: string, version: string, file: string): Promise<ModelFileRef> {
    const served = await this.#servedVersion(name, version);
    const notFound = () =>
      new AppError('NOT_FOUND', `${name}@${version} has no file "${file.slice(0, 100)}"`, {
        details: { name, version },
      });
    if (served === null) throw notFound();
    if (file === manifestFileName || file === modelJsonFileName)
      return { root: served.root, file, contentType: 'application/json', sha256: served.sha256 };
    if (!served.shards.has(file)) throw notFound();
    return { root: served.root, file, contentType: 'application/octet-stream', sha256: served.sha256 };
  }

  /** Forgets what was read of a version, e.g. once its files turned out to be gone. */
  forgetServedVersion(name: string, version: string): void {
    this.#served.delete(`${name}@${version}`);
  }

  /** The servable files of a version (null: none, it is remote or a SavedModel), cached; at most 256 versions. */
  async #servedVersion(name: string, version: string): Promise<ServedVersion | null> {
    const key = `${name}@${version}`;
    const cached = this.#served.get(key);
    if (cached !== undefined) {
      // Most recently used last, so the oldest is the first to go.
      this.#served.delete(key);
      this.#served.set(key, cached);
      return cached;
    }
    const resolved = await this.#options.registry.resolve(name, version);
    let served: ServedVersion | null = null;
    if (!isRemoteLocation(resolved.location) && resolved.manifest.format !== 'saved_model') {
      const modelJson = JSON.parse(await readFile(path.join(resolved.location, modelJsonFileName), 'utf8')) as unknown;
      served = { root: resolved.location, sha256: resolved.manifest.sha256, shards: new Set(weightPathsOf(modelJson)) };
    }
    this.#served.set(key, served);
    if (this.#served.size > 256) this.#served.delete(this.#served.keys().next().value as string);
    return served;
  }

  async #liveWorkers(): Promise<WorkerHeartbeat[]> {
    // The listing still answers while Redis is down; it then shows no workers.
    return this.#options.workers.list().catch(() => []);
  }
}

function toModelView(entry: ModelEntry, workers: WorkerHeartbeat[]): ModelView {
  const serving = workers.flatMap((worker) =>
    worker.models.filter((model) => model.name === entry.name).map((model) => ({ worker, model })),
  );
  const loadedBy = (version: string) =>
    serving.filter(({ model }) => (model.loaded ?? [model.version]).includes(version)).length;
  const live = entry.liveVersion;
  let swap: ModelView['swap'] = null;
  if (live !== null && serving.some(({ model }) => model.version !== live || model.swap)) {
    const failures = serving
      .filter(({ model }) => model.swap?.state === 'failed')
      .map(({ worker, model }) => ({
        workerId: worker.workerId,
        version: model.swap?.to ?? live,
        code: model.swap?.error?.code ?? 'INTERNAL',
        reason: model.swap?.error?.reason ?? null,
        message: model.swap?.error?.message ?? '',
      }));
    swap = {
      to: live,
      switched: serving.filter(({ model }) => model.version === live).length,
      loading: serving.filter(({ model }) => model.swap?.state === 'loading').length,
      failures,
    };
  }
  return {
    name: entry.name,
    liveVersion: live,
    remote: entry.remote,
    workers: serving.length,
    swap,
    problems: entry.problems.map((problem) => ({
      version: problem.version,
      reason: problem.reason,
      message: problem.message,
    })),
    loadFailures: workers.flatMap((worker) =>
      (worker.failedModels ?? [])
        .filter((failed) => failed.name === entry.name)
        .map((failed) => ({
          workerId: worker.workerId,
          version: failed.version ?? '',
          code: failed.code,
          reason: failed.reason ?? null,
          message: failed.message,
        })),
    ),
    versions: entry.versions.map(({ version, manifest, location }) => ({
      version,
      live: version === live,
      format: manifest.format,
      sha256: manifest.sha256,
      createdAt: manifest.createdAt,
      source: manifest.source ?? null,
      input: manifest.input
        ? { width: manifest.input.width, height: manifest.input.height, channels: manifest.input.channels }
        : null,
      labels:
        manifest.output?.kind === 'classification'
          ? manifest.output.labels
          : manifest.reader?.kind === 'classification'
            ? manifest.reader.labels
            : null,
      tensors:
        manifest.inputs && manifest.outputs
          ? { inputs: manifest.inputs, outputs: manifest.outputs, reader: manifest.reader?.kind ?? 'raw' }
          : null,
      metrics: manifest.metrics ?? null,
      limits: manifest.limits ?? null,
      workersReady: loadedBy(version),
      engines: [
        ...new Set(
          serving.filter(({ model }) => model.version === version && model.engine).map(({ model }) => model.engine!),
        ),
      ].sort(),
      modelUrl:
        isRemoteLocation(location) || manifest.format === 'saved_model'
          ? null
          : `/v1/models/${entry.name}/${version}/model.json`,
    })),
  };
}
