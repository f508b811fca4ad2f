import type { ModelRegistry } from '@inferq/models';
import type { PixelSpec } from '@inferq/images';
import type { TensorSignature } from '@inferq/tensors';

/** A servable model version as the API sees it. */
export interface CatalogModel {
  name: string;
  version: string;
  /** The version's input; when present, submits store the model's pixels made while validating. */
  input?: PixelSpec;
  /** A tensor model's named inputs and outputs: submits send tensors, checked against them. */
  tensors?: TensorSignature;
}

/**
 * Where a job that names no version goes when its model has a traffic split: one version per job
 * (by weight, or fixed per user), and a shadow version that runs it too. null: no split, the live
 * version. (`TrafficRouting` in `@inferq/rollout`.)
 */
export interface VersionRouter {
  route(model: string, userId: string): Promise<{ version: string; shadow?: string } | null>;
}

/** What the API needs to know about models: whether a name (and version) can be served. */
export interface ModelCatalog {
  resolve(name: string, version?: string): Promise<CatalogModel | null>;
  /** The servable models and their versions, for errors that say what there is. @defaultValue none */
  list?(): Promise<Array<{ name: string; versions: string[] }>>;
}

export interface RegistryCatalogOptions {
  /**
   * How long an answer is reused. Each resolve reads the model's folder, LIVE file and manifest,
   * which every submit would otherwise repeat; a new live version is seen within this long.
   * @defaultValue 1000
   */
  cacheMs?: number;
  /** Hand out each version's input spec, so submits make the model's pixels. @defaultValue true */
  preparePixels?: boolean;
}

interface CachedAnswer {
  at: number;
  answer: Promise<CatalogModel | null>;
  /** Set once the answer has settled; a stale entry is answered from it while a refresh runs. */
  settled?: { value: CatalogModel | null };
  refreshing?: boolean;
}

/**
 * The API's view of the model registry: names, versions and input specs; it never loads a model.
 * Answers are reused for `cacheMs`; after that the last answer is still given at once while one
 * refresh reads the registry in the background (its file reads share libuv's thread pool with
 * sharp's decodes, and a submit must not wait for them under load). A new live version is seen
 * within `cacheMs` plus one registry read.
 */
export function registryCatalog(registry: ModelRegistry, options: RegistryCatalogOptions = {}): ModelCatalog {
  const cacheMs = options.cacheMs ?? 1000;
  const preparePixels = options.preparePixels ?? true;
  const answers = new Map<string, CachedAnswer>();
  const read = (name: string, version: string | undefined) =>
    registry.resolve(name, version).then(
      (resolved): CatalogModel => {
        const { manifest } = resolved;
        const tensors =
          manifest.inputs && manifest.outputs
            ? { tensors: { inputs: manifest.inputs, outputs: manifest.outputs } }
            : {};
        return {
          name,
          version: manifest.version,
          ...(preparePixels && manifest.input ? { input: manifest.input } : {}),
          ...tensors,
        };
      },
      () => null,
    );
  const remember = (key: string, entry: CachedAnswer) => {
    void entry.answer.then((value) => (entry.settled = { value }));
    // Names come from requests: keep the map small however many unknown names are tried.
    if (answers.size >= 1000 && !answers.has(key)) answers.clear();
    answers.set(key, entry);
  };
  let listed: { at: number; answer: Promise<Array<{ name: string; versions: string[] }>> } | undefined;
  return {
    list() {
      // Read only when a submit names a model that does not exist; reused like the answers above.
      if (!listed || performance.now() - listed.at >= cacheMs) {
        const answer = registry
          .list()
          .then((entries) =>
            entries
              .filter((entry) => entry.versions.length > 0)
              .map((entry) => ({ name: entry.name, versions: entry.versions.map((v) => v.version) })),
          );
        listed = { at: performance.now(), answer };
        answer.catch(() => (listed = undefined));
      }
      return listed.answer;
    },
    resolve(name, version) {
      const key = `${name}\0${version ?? ''}`;
      const now = performance.now();
      const cached = answers.get(key);
      if (cached && now - cached.at < cacheMs) return cached.answer;
      if (cached?.settled) {
        if (!cached.refreshing) {
          cached.refreshing = true;
          const fresh = read(name, version);
          void fresh.then(() => remember(key, { at: performance.now(), answer: fresh }));
        }
        return Promise.resolve(cached.settled.value);
      }
      if (cached) return cached.answer; // the first read is still running
      const entry: CachedAnswer = { at: now, answer: read(name, version) };
      remember(key, entry);
      return entry.answer;
    },
  };
}
