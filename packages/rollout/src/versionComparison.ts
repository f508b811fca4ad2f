import type { ModelComparison, VersionFigures } from '@inferq/core';
import { sqlPool, type Database } from '@inferq/db';

export interface CompareInput {
  model: string;
  baseline: string;
  candidate: string;
  /** Only jobs finished (and shadow runs made) at or after this count. */
  since: Date;
}

export interface VersionComparisonOptions {
  /** Shadowed pairs whose score vectors are compared, newest first; agreement counts every pair. @defaultValue 20000 */
  maxScoredPairs?: number;
}

/**
 * Two versions of a model judged on what they already did, read from the stored rows: the jobs
 * each ran as the primary (`jobs`, by the version that ran them) and the shadow runs it made
 * (`job_shadow_results`). Latency is the inference time of the model batch a job ran in, the one
 * figure a primary and a shadow run have alike (a shadow run has no queue wait of its own that
 * means anything: it waits behind primaries on purpose).
 */
export class VersionComparison {
  readonly #db: Database;
  readonly #options: VersionComparisonOptions;

  constructor(db: Database, options: VersionComparisonOptions = {}) {
    this.#db = db;
    this.#options = options;
  }

  async compare(input: CompareInput): Promise<ModelComparison> {
    const pool = sqlPool(this.#db);
    const versions = [input.baseline, input.candidate];
    const figures = await pool.query<{
      version: string;
      jobs: string;
      shadow_runs: string;
      failed: string;
      p50: number | null;
      p95: number | null;
    }>(
      `WITH runs AS (
         SELECT coalesce(model_version, routed_version, requested_version) AS version, status = 'failed' AS failed, inference_ms, false AS shadow
           FROM jobs
          WHERE model_name = $1 AND finished_at >= $2 AND status IN ('succeeded', 'failed')
         UNION ALL
         SELECT model_version, error_code IS NOT NULL, inference_ms, true
           FROM job_shadow_results
          WHERE model_name = $1 AND created_at >= $2
       )
       SELECT version,
              count(*) FILTER (WHERE NOT shadow) AS jobs,
              count(*) FILTER (WHERE shadow) AS shadow_runs,
              count(*) FILTER (WHERE failed) AS failed,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY inference_ms) FILTER (WHERE NOT failed) AS p50,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY inference_ms) FILTER (WHERE NOT failed) AS p95
         FROM runs
        WHERE version = ANY($3::text[])
        GROUP BY version`,
      [input.model, input.since, versions],
    );
    const byVersion = new Map(figures.rows.map((row) => [row.version, row]));
    const figuresOf = (version: string): VersionFigures => {
      const row = byVersion.get(version);
      const jobs = Number(row?.jobs ?? 0);
      const shadowRuns = Number(row?.shadow_runs ?? 0);
      const failed = Number(row?.failed ?? 0);
      const runs = jobs + shadowRuns;
      return {
        version,
        jobs,
        shadowRuns,
        failed,
        errorRate: runs > 0 ? failed / runs : null,
        p50Ms: row?.p50 ?? null,
        p95Ms: row?.p95 ?? null,
      };
    };

    const pairs = await pool.query<{ agree: boolean; primary_scores: number[] | null; shadow_scores: number[] | null }>(
      `SELECT (r.labels -> 0 ->> 'label') IS NOT DISTINCT FROM (s.labels -> 0 ->> 'label') AS agree,
              r.output -> 0 AS primary_scores, s.output -> 0 AS shadow_scores
         FROM job_shadow_results s
         JOIN job_results r ON r.job_id = s.job_id
        WHERE s.model_name = $1 AND s.created_at >= $2 AND s.error_code IS NULL
          AND ((r.model_version = $3 AND s.model_version = $4) OR (r.model_version = $4 AND s.model_version = $3))
        ORDER BY s.created_at DESC
        LIMIT $5`,
      [input.model, input.since, input.baseline, input.candidate, this.#options.maxScoredPairs ?? 20_000],
    );
    let agreed = 0;
    let diffSum = 0;
    let diffMax = 0;
    let scored = 0;
    for (const pair of pairs.rows) {
      if (pair.agree) agreed++;
      const a = pair.primary_scores;
      const b = pair.shadow_scores;
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) continue;
      let largest = 0;
      for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs((a[i] as number) - (b[i] as number)));
      diffSum += largest;
      diffMax = Math.max(diffMax, largest);
      scored++;
    }
    const count = pairs.rows.length;
    return {
      model: input.model,
      since: input.since.toISOString(),
      baseline: figuresOf(input.baseline),
      candidate: figuresOf(input.candidate),
      shadow: {
        pairs: count,
        agreement: count > 0 ? agreed / count : null,
        meanAbsScoreDiff: scored > 0 ? diffSum / scored : null,
        maxAbsScoreDiff: scored > 0 ? diffMax : null,
      },
    };
  }
}
