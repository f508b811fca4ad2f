import {
  AppError,
  type ModelComparison,
  type ModelRollbackView,
  type PutTrafficBody,
  type TrafficSplit,
  type TrafficView,
  type WorkerHeartbeat,
} from '@inferq/core';
import type { Database } from '@inferq/db';
import type { ModelRegistry } from '@inferq/models';
import { loadedByModel } from './trafficRouting.ts';
import { toRollbackView } from './rolloutGuard.ts';
import type { VersionComparison } from './versionComparison.ts';

export interface RolloutServiceOptions {
  registry: ModelRegistry;
  comparison: VersionComparison;
  db: Database;
  /** Live workers' heartbeats: which versions are warm where. */
  workers: { list(): Promise<WorkerHeartbeat[]> };
}

/**
 * The operators' side of a rollout, without HTTP: read and set a model's traffic split, compare
 * two versions, list the rollbacks. The split is stored beside LIVE in the registry, where every
 * worker (which loads each version in it) and every API process (which routes by it) reads it.
 */
export class RolloutService {
  readonly #options: RolloutServiceOptions;

  constructor(options: RolloutServiceOptions) {
    this.#options = options;
  }

  async getTraffic(name: string): Promise<TrafficView> {
    const { registry, db } = this.#options;
    const live = await registry.resolve(name).then((resolved) => resolved.version);
    const [traffic, workers, rollbacks] = await Promise.all([
      registry.readTraffic(name),
      this.#options.workers.list().catch((): WorkerHeartbeat[] => []),
      db.modelRollback.findMany({ where: { modelName: name }, orderBy: { createdAt: 'desc' }, take: 20 }),
    ]);
    const ready = (version: string) =>
      workers.filter((worker) => loadedByModel([worker]).get(name)?.has(version)).length;
    const total = traffic ? traffic.split.reduce((sum, entry) => sum + entry.weight, 0) : 0;
    return {
      model: name,
      liveVersion: live,
      traffic: traffic
        ? {
            split: traffic.split.map(({ version, weight }) => ({
              version,
              weight,
              share: total > 0 ? weight / total : 0,
              workersReady: ready(version),
            })),
            sticky: traffic.sticky,
            shadow: traffic.shadow ? { version: traffic.shadow, workersReady: ready(traffic.shadow) } : null,
            rules: traffic.rules,
            baseline: traffic.baseline,
            since: traffic.since,
          }
        : null,
      rollbacks: rollbacks.map(toRollbackView),
    };
  }

  /**
   * Sets the split of `name`. Every version must exist (MODEL_NOT_FOUND), weights must not all be
   * zero and a version may appear once (VALIDATION_FAILED). The baseline is the live version now.
   * Workers load each version within their watch interval; until one has, its share goes to the
   * baseline.
   */
  async setTraffic(name: string, body: PutTrafficBody): Promise<TrafficView> {
    await setTrafficSplit(this.#options.registry, name, body);
    return this.getTraffic(name);
  }

  /** Removes the split: every job that names no version runs on the live version again. */
  async clearTraffic(name: string): Promise<TrafficView> {
    await this.#options.registry.resolve(name);
    await this.#options.registry.setTraffic(name, null);
    return this.getTraffic(name);
  }

  /**
   * Compares `candidate` with `baseline` over the jobs finished since `since`; without it, since
   * the split was set, or over the last 24 hours when there is none.
   */
  async compare(name: string, baseline: string, candidate: string, since?: Date): Promise<ModelComparison> {
    const { registry, comparison } = this.#options;
    await registry.resolve(name, baseline);
    await registry.resolve(name, candidate);
    const traffic = await registry.readTraffic(name);
    const from = since ?? (traffic ? new Date(traffic.since) : new Date(Date.now() - 24 * 3600 * 1000));
    return comparison.compare({ model: name, baseline, candidate, since: from });
  }

  /** The latest automatic rollbacks over every model, newest first. */
  async rollbacks(limit = 20): Promise<ModelRollbackView[]> {
    const rows = await this.#options.db.modelRollback.findMany({ orderBy: { createdAt: 'desc' }, take: limit });
    return rows.map(toRollbackView);
  }
}

/**
 * Checks a split and stores it in the registry with the live version as its baseline (the API's
 * PUT and the admin CLI): a version named twice or no weight above zero is VALIDATION_FAILED, a
 * version that does not exist MODEL_NOT_FOUND.
 */
export async function setTrafficSplit(
  registry: Pick<ModelRegistry, 'resolve' | 'setTraffic'>,
  name: string,
  body: PutTrafficBody,
): Promise<TrafficSplit> {
  const versions = body.split.map((entry) => entry.version);
  if (new Set(versions).size !== versions.length)
    throw invalid('a version appears more than once in the split', 'split');
  if (!body.split.some((entry) => entry.weight > 0))
    throw invalid('at least one version needs a weight above 0', 'split');
  const live = await registry.resolve(name);
  const traffic: TrafficSplit = {
    split: body.split,
    sticky: body.sticky ?? 'none',
    shadow: body.shadow ?? null,
    rules: body.rules ?? null,
    baseline: live.version,
    since: new Date().toISOString(),
  };
  await registry.setTraffic(name, traffic);
  return traffic;
}

function invalid(message: string, field: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { details: { field } });
}
