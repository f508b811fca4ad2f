import type { Redis } from 'ioredis';
import { workerHeartbeatSchema, type WorkerHeartbeat } from '@inferq/core';

export type { WorkerHeartbeat };

export interface WorkerRegistryOptions {
  /** Any connection that can run commands (not a subscriber). */
  connection: Redis;
  /** @defaultValue "inferq" */
  prefix?: string;
  /** How long a heartbeat stays visible; a dead worker is gone after at most this long. @defaultValue 5000 */
  ttlMs?: number;
}

/**
 * Live worker processes, for operators. Each worker writes its own key with a short TTL every few
 * seconds and adds its id to a set; a worker that stops cleanly deletes both, and one that dies
 * disappears when its key expires. Readers drop set members whose key is gone, so the set never
 * grows without bound and no scan of the keyspace is needed.
 */
export class WorkerRegistry {
  readonly #redis: Redis;
  readonly #setKey: string;
  readonly #keyPrefix: string;
  /** A hash, kept with no expiry: per model, the last load time and throughput a worker measured (`<model>:loadMs`, `<model>:throughput`). */
  readonly #statsKey: string;
  readonly ttlMs: number;

  constructor(options: WorkerRegistryOptions) {
    const prefix = options.prefix ?? 'inferq';
    this.#redis = options.connection;
    // Beside BullMQ's keys (<prefix>:<queue>:<suffix or job id>); job ids are UUIDs, so none collides.
    this.#setKey = `${prefix}:registry:workers`;
    this.#keyPrefix = `${prefix}:registry:worker:`;
    this.#statsKey = `${prefix}:registry:model-stats`;
    this.ttlMs = options.ttlMs ?? 5000;
  }

  async beat(heartbeat: WorkerHeartbeat): Promise<void> {
    // What a model measured is kept past the worker: a queued job's ETA needs the load time and
    // throughput of a model no worker serves right now.
    const stats: string[] = [];
    for (const model of heartbeat.models)
      if (model.loadMs !== undefined) stats.push(`${model.name}:loadMs`, String(Math.round(model.loadMs)));
    for (const jobs of heartbeat.jobs ?? [])
      if (jobs.throughput != null) stats.push(`${jobs.model}:throughput`, String(jobs.throughput));
    const multi = this.#redis
      .multi()
      .set(this.#keyPrefix + heartbeat.workerId, JSON.stringify(heartbeat), 'PX', this.ttlMs)
      .sadd(this.#setKey, heartbeat.workerId);
    if (stats.length > 0) multi.hset(this.#statsKey, ...stats);
    await multi.exec();
  }

  /** Per model, the last load time (ms) and throughput (jobs/s) a worker measured. */
  async modelStats(): Promise<Map<string, { loadMs: number | null; throughput: number | null }>> {
    const fields = await this.#redis.hgetall(this.#statsKey);
    const stats = new Map<string, { loadMs: number | null; throughput: number | null }>();
    for (const [field, value] of Object.entries(fields)) {
      const at = field.lastIndexOf(':');
      const model = field.slice(0, at);
      const entry = stats.get(model) ?? { loadMs: null, throughput: null };
      const number = Number(value);
      if (!Number.isFinite(number)) continue;
      if (field.endsWith(':loadMs')) entry.loadMs = number;
      else if (field.endsWith(':throughput')) entry.throughput = number;
      stats.set(model, entry);
    }
    return stats;
  }

  /** Removes a worker at once (clean shutdown). */
  async remove(workerId: string): Promise<void> {
    await this.#redis
      .multi()
      .del(this.#keyPrefix + workerId)
      .srem(this.#setKey, workerId)
      .exec();
  }

  /** Live workers, by id. */
  async list(): Promise<WorkerHeartbeat[]> {
    const ids = (await this.#redis.smembers(this.#setKey)).sort();
    if (ids.length === 0) return [];
    const values = await this.#redis.mget(ids.map((id) => this.#keyPrefix + id));
    const live: WorkerHeartbeat[] = [];
    const gone: string[] = [];
    values.forEach((value, index) => {
      const parsed = value ? workerHeartbeatSchema.safeParse(safeJson(value)) : undefined;
      if (parsed?.success) live.push(parsed.data);
      else gone.push(ids[index]!);
    });
    if (gone.length > 0) await this.#redis.srem(this.#setKey, ...gone).catch(() => 0);
    return live;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export interface WorkerHeartbeatLoopOptions {
  registry: WorkerRegistry;
  /** Builds the current heartbeat. */
  describe: () => WorkerHeartbeat;
  /** @defaultValue 2000 */
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

/** Writes a heartbeat now and every `intervalMs`; `stop()` removes the worker from the registry. */
export class WorkerHeartbeatLoop {
  readonly #options: WorkerHeartbeatLoopOptions;
  #timer: NodeJS.Timeout | undefined;
  #workerId: string | undefined;

  constructor(options: WorkerHeartbeatLoopOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#timer) return;
    const beat = () => {
      const heartbeat = this.#options.describe();
      this.#workerId = heartbeat.workerId;
      // Best effort: a missed beat while Redis is down only hides the worker for a moment.
      this.#options.registry.beat(heartbeat).catch((error: unknown) => this.#options.onError?.(error));
    };
    beat();
    this.#timer = setInterval(beat, this.#options.intervalMs ?? 2000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#workerId) await this.#options.registry.remove(this.#workerId).catch(() => {});
  }
}

/** Per model, how many live workers of one queue serve it. */
export function workersByModel(heartbeats: readonly WorkerHeartbeat[], queue: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const beat of heartbeats)
    if (beat.queue === queue)
      for (const model of new Set(beat.models.map((served) => served.name)))
        counts.set(model, (counts.get(model) ?? 0) + 1);
  return counts;
}

/** The models that the live workers of one queue serve (a model counts once any of them loaded it). */
export function modelsServed(heartbeats: readonly WorkerHeartbeat[], queue: string): Set<string> {
  const served = new Set<string>();
  for (const beat of heartbeats) if (beat.queue === queue) for (const model of beat.models) served.add(model.name);
  return served;
}

export interface ServedModelsOptions {
  registry: WorkerRegistry;
  /** The base queue name the workers announce. */
  queue: string;
  /** How long one read of the heartbeats is reused. @defaultValue 1000 */
  cacheMs?: number;
}

/** What the workers tell of one model: how many serve it, how fast they finish its jobs, how long it takes to load. */
export interface ModelCapacity {
  /** Live workers that serve it now. */
  workers: number;
  /** Jobs per second: the serving workers' measured throughputs added up, or the last one measured when none serves it; null: never measured. */
  throughput: number | null;
  /** How long a worker took to load it, in ms (the slowest serving one, or the last measured); null: never loaded. */
  loadMs: number | null;
}

/**
 * Which models some live worker serves, read from the heartbeats at most once per `cacheMs`
 * however many callers ask (job views, the reconciler). Undefined while Redis cannot answer: the
 * caller then says nothing rather than guess.
 */
export class ServedModels {
  readonly #options: ServedModelsOptions;
  #cached: { at: number; value: Promise<Set<string> | undefined> } | undefined;
  #capacity: { at: number; value: Promise<Map<string, ModelCapacity> | undefined> } | undefined;

  /**
   * Per model, its workers, throughput and load time: the heartbeats and the kept model stats, two
   * reads at most once per `cacheMs` however many job views ask. Undefined while Redis cannot answer.
   */
  capacity(): Promise<Map<string, ModelCapacity> | undefined> {
    const now = performance.now();
    if (!this.#capacity || now - this.#capacity.at >= (this.#options.cacheMs ?? 1000)) {
      const { registry, queue } = this.#options;
      this.#capacity = {
        at: now,
        value: Promise.all([registry.list(), registry.modelStats()]).then(
          ([beats, kept]) => {
            const capacity = new Map<string, ModelCapacity>();
            for (const [model, stats] of kept) capacity.set(model, { workers: 0, ...stats });
            for (const beat of beats) {
              if (beat.queue !== queue) continue;
              for (const model of beat.models) {
                const entry = capacity.get(model.name) ?? { workers: 0, throughput: null, loadMs: null };
                // The first serving worker replaces the kept figures; the others add to its throughput.
                const rate = beat.jobs?.find((jobs) => jobs.model === model.name)?.throughput ?? null;
                if (entry.workers === 0)
                  capacity.set(model.name, {
                    workers: 1,
                    throughput: rate ?? entry.throughput,
                    loadMs: model.loadMs ?? entry.loadMs,
                  });
                else
                  capacity.set(model.name, {
                    workers: entry.workers + 1,
                    throughput: rate === null ? entry.throughput : (entry.throughput ?? 0) + rate,
                    loadMs: Math.max(entry.loadMs ?? 0, model.loadMs ?? 0) || null,
                  });
              }
            }
            return capacity;
          },
          () => undefined,
        ),
      };
    }
    return this.#capacity.value;
  }

  constructor(options: ServedModelsOptions) {
    this.#options = options;
  }

  current(): Promise<Set<string> | undefined> {
    const now = performance.now();
    if (!this.#cached || now - this.#cached.at >= (this.#options.cacheMs ?? 1000)) {
      this.#cached = {
        at: now,
        value: this.#options.registry.list().then(
          (beats) => modelsServed(beats, this.#options.queue),
          () => undefined,
        ),
      };
    }
    return this.#cached.value;
  }
}
