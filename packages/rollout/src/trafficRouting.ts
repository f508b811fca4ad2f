import { createHash } from 'node:crypto';
import type { TrafficSplit, WorkerHeartbeat } from '@inferq/core';
import type { ModelRegistry } from '@inferq/models';

/** Where a job that names no version goes under a split. */
export interface TrafficRoute {
  version: string;
  /** The version that also runs the job, its result hidden; absent when none (or not warm yet). */
  shadow?: string;
}

/**
 * The version for the point `point` in [0, 1) of a split. Versions `ready` refuses (no worker
 * has them loaded yet) take no traffic: their weight goes to the baseline, so a split set before
 * its candidate is warm never sends a job to a version that would load on the job's time.
 */
export function pickVersion(
  traffic: Pick<TrafficSplit, 'split' | 'baseline'>,
  point: number,
  ready: (version: string) => boolean = () => true,
): string {
  const weights = new Map<string, number>();
  for (const { version, weight } of traffic.split) {
    const to = ready(version) ? version : traffic.baseline;
    weights.set(to, (weights.get(to) ?? 0) + weight);
  }
  const total = [...weights.values()].reduce((sum, weight) => sum + weight, 0);
  if (total <= 0) return traffic.baseline;
  let left = point * total;
  for (const [version, weight] of weights) {
    if (left < weight) return version;
    left -= weight;
  }
  return [...weights.keys()].at(-1) as string;
}

/**
 * A user's fixed point in [0, 1) for one model: the first 48 bits of SHA-256 of model and user.
 * Stable across API processes and restarts, and independent between models.
 */
export function stickyPoint(model: string, userId: string): number {
  const digest = createHash('sha256').update(`${model}\0${userId}`).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

export interface TrafficRoutingOptions {
  registry: Pick<ModelRegistry, 'readTraffic'>;
  /** Live workers' heartbeats: which versions are loaded somewhere. */
  workers: { list(): Promise<WorkerHeartbeat[]> };
  /**
   * How long a model's split and the heartbeats are reused; a new split is seen within this long.
   * @defaultValue 1000
   */
  cacheMs?: number;
  /** The point of a job with `sticky: none`. @defaultValue Math.random */
  random?: () => number;
}

interface Cached<T> {
  at: number;
  value: Promise<T>;
  /** Set once `value` settled: a stale entry is answered from it while one refresh runs. */
  settled?: { value: T };
  refreshing?: boolean;
}

/**
 * `cache`'s answer for `read`: fresh within `cacheMs`; up to twice that old, the last settled
 * answer at once while one refresh runs (under a steady stream of submits none waits for the
 * registry's files or Redis); older, a fresh read (a quiet process never routes by an old split).
 */
function cached<T>(
  entry: Cached<T> | undefined,
  cacheMs: number,
  read: () => Promise<T>,
  store: (entry: Cached<T>) => void,
): Promise<T> {
  const now = performance.now();
  if (entry && now - entry.at < cacheMs) return entry.value;
  if (entry?.settled && now - entry.at >= 2 * cacheMs && !entry.refreshing) entry = undefined;
  const remember = (value: Promise<T>) => {
    const fresh: Cached<T> = { at: performance.now(), value };
    void value.then((settled) => (fresh.settled = { value: settled }));
    return fresh;
  };
  if (entry?.settled) {
    if (!entry.refreshing) {
      entry.refreshing = true;
      const value = read();
      void value.then(() => store(remember(value)));
    }
    return Promise.resolve(entry.settled.value);
  }
  if (entry && !entry.settled) return entry.value; // the first read is still running
  const first = remember(read());
  store(first);
  return first.value;
}

/**
 * The API's router of jobs that name no version: reads the model's split from the registry and
 * which versions workers have loaded (both reused for `cacheMs`, then for as long again answered
 * from the last read while one refresh runs: a change is seen within twice `cacheMs`), and picks
 * one version per job.
 */
export class TrafficRouting {
  readonly #options: TrafficRoutingOptions;
  readonly #splits = new Map<string, Cached<TrafficSplit | null>>();
  #loaded: Cached<Map<string, Set<string>>> | undefined;

  constructor(options: TrafficRoutingOptions) {
    this.#options = options;
  }

  /** The version (and shadow) a job of `userId` for `model` runs on; null when the model has no split. */
  async route(model: string, userId: string): Promise<TrafficRoute | null> {
    const traffic = await this.#split(model);
    if (!traffic) return null;
    const loaded = (await this.#loadedVersions()).get(model) ?? new Set<string>();
    const point = traffic.sticky === 'user' ? stickyPoint(model, userId) : (this.#options.random ?? Math.random)();
    const version = pickVersion(traffic, point, (v) => v === traffic.baseline || loaded.has(v));
    const shadow =
      traffic.shadow !== null && traffic.shadow !== version && loaded.has(traffic.shadow) ? traffic.shadow : undefined;
    return shadow ? { version, shadow } : { version };
  }

  #split(model: string): Promise<TrafficSplit | null> {
    return cached(
      this.#splits.get(model),
      this.#options.cacheMs ?? 1000,
      // Unreadable: no split, as if the file were absent; jobs go to the live version.
      () => this.#options.registry.readTraffic(model).catch(() => null),
      (entry) => {
        // Names come from requests: keep the map small however many are tried.
        if (this.#splits.size >= 1000 && !this.#splits.has(model)) this.#splits.clear();
        this.#splits.set(model, entry);
      },
    );
  }

  #loadedVersions(): Promise<Map<string, Set<string>>> {
    return cached(
      this.#loaded,
      this.#options.cacheMs ?? 1000,
      () => this.#options.workers.list().then(loadedByModel, () => new Map<string, Set<string>>()),
      (entry) => (this.#loaded = entry),
    );
  }
}

/** Per model, the versions some live worker has loaded and serves. */
export function loadedByModel(workers: readonly WorkerHeartbeat[]): Map<string, Set<string>> {
  const loaded = new Map<string, Set<string>>();
  for (const worker of workers) {
    for (const model of worker.models) {
      const versions = loaded.get(model.name) ?? new Set<string>();
      for (const version of model.loaded ?? [model.version]) versions.add(version);
      loaded.set(model.name, versions);
    }
  }
  return loaded;
}
