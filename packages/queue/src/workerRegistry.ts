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
  readonly ttlMs: number;

  constructor(options: WorkerRegistryOptions) {
    const prefix = options.prefix ?? 'inferq';
    this.#redis = options.connection;
    // Beside BullMQ's keys (<prefix>:<queue>:<suffix or job id>); job ids are UUIDs, so none collides.
    this.#setKey = `${prefix}:registry:workers`;
    this.#keyPrefix = `${prefix}:registry:worker:`;
    this.ttlMs = options.ttlMs ?? 5000;
  }

  async beat(heartbeat: WorkerHeartbeat): Promise<void> {
    await this.#redis
      .multi()
      .set(this.#keyPrefix + heartbeat.workerId, JSON.stringify(heartbeat), 'PX', this.ttlMs)
      .sadd(this.#setKey, heartbeat.workerId)
      .exec();
  }

  /** Removes a worker at once (clean shutdown). */
  async remove(workerId: string): Promise<void> {
    await this.#redis.multi().del(this.#keyPrefix + workerId).srem(this.#setKey, workerId).exec();
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
  for (const beat of heartbeats) if (beat.queue === queue) for (const model of new Set(beat.models.map((served) => served.name))) counts.set(model, (counts.get(model) ?? 0) + 1);
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

/**
 * Which models some live worker serves, read from the heartbeats at most once per `cacheMs`
 * however many callers ask (job views, the reconciler). Undefined while Redis cannot answer: the
 * caller then says nothing rather than guess.
 */
export class ServedModels {
  readonly #options: ServedModelsOptions;
  #cached: { at: number; value: Promise<Set<string> | undefined> } | undefined;

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
