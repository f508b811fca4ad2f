import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ModelComparison, ModelRollbackView, ModelRolledBackEvent } from '@inferq/core';
import type { Database } from '@inferq/db';
import type { ModelRegistry } from '@inferq/models';
import { brokenRule } from './rollbackJudge.ts';
import type { VersionComparison } from './versionComparison.ts';

export interface RolloutGuardOptions {
  registry: Pick<ModelRegistry, 'names' | 'readTraffic' | 'setLive'>;
  comparison: VersionComparison;
  db: Database;
  logger: Logger;
  /** Told of each rollback once it is done (the administrators' `model.rolled_back` webhook). @defaultValue none */
  notify?: (event: ModelRolledBackEvent) => Promise<void>;
}

/**
 * The automatic rollback, one pass at a time (the reconciler runs it): every model whose split has
 * rules has each candidate (split versions and the shadow, other than the baseline) compared with
 * the baseline on the jobs since the split was set; the first candidate that breaks a rule puts
 * all traffic back on the baseline (the baseline made live again, which removes the split), the
 * rollback is recorded with its reason and figures, and the administrators are told.
 */
export class RolloutGuard {
  readonly #options: RolloutGuardOptions;

  constructor(options: RolloutGuardOptions) {
    this.#options = options;
  }

  /** One pass over every model; returns the rollbacks it made. */
  async checkAll(): Promise<ModelRollbackView[]> {
    const { registry, logger } = this.#options;
    const rollbacks: ModelRollbackView[] = [];
    for (const name of await registry.names()) {
      try {
        const rollback = await this.check(name);
        if (rollback) rollbacks.push(rollback);
      } catch (error) {
        logger.warn({ model: name, err: error }, 'rollout rules could not be judged; trying again next pass');
      }
    }
    return rollbacks;
  }

  /** Judges one model's split; returns the rollback when a candidate broke a rule. */
  async check(name: string): Promise<ModelRollbackView | null> {
    const { registry, comparison, logger } = this.#options;
    const traffic = await registry.readTraffic(name);
    if (!traffic?.rules) return null;
    const candidates = [
      ...new Set([...traffic.split.map((entry) => entry.version), ...(traffic.shadow ? [traffic.shadow] : [])]),
    ].filter((v) => v !== traffic.baseline);
    for (const candidate of candidates) {
      const figures = await comparison.compare({
        model: name,
        baseline: traffic.baseline,
        candidate,
        since: new Date(traffic.since),
      });
      const broken = brokenRule(traffic.rules, figures);
      if (!broken) continue;
      await registry.setLive(name, traffic.baseline);
      const rollback = await this.#record(name, traffic.baseline, candidate, broken.rule, broken.reason, figures);
      logger.warn(
        { model: name, baseline: traffic.baseline, candidate, rule: broken.rule, reason: broken.reason },
        'candidate broke a rollout rule: all traffic back on the baseline',
      );
      await this.#options
        .notify?.({ type: 'model.rolled_back', rollback, comparison: figures })
        .catch((error: unknown) => logger.warn({ model: name, err: error }, 'model.rolled_back webhook not delivered'));
      return rollback;
    }
    return null;
  }

  async #record(
    model: string,
    baseline: string,
    candidate: string,
    rule: string,
    reason: string,
    figures: ModelComparison,
  ): Promise<ModelRollbackView> {
    const row = await this.#options.db.modelRollback.create({
      data: { id: randomUUID(), modelName: model, baseline, candidate, rule, reason, figures },
    });
    return toRollbackView(row);
  }
}

export function toRollbackView(row: {
  id: string;
  modelName: string;
  baseline: string;
  candidate: string;
  rule: string;
  reason: string;
  createdAt: Date;
}): ModelRollbackView {
  return {
    id: row.id,
    model: row.modelName,
    baseline: row.baseline,
    candidate: row.candidate,
    rule: row.rule,
    reason: row.reason,
    at: row.createdAt.toISOString(),
  };
}
