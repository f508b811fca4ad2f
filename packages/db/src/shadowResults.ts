import { sqlPool, type Database } from './client.ts';

/** What a shadow version made of a routed job's input, or why it could not. */
export interface ShadowResult {
  jobId: string;
  modelName: string;
  modelVersion: string;
  output?: unknown;
  labels?: unknown;
  /** Set when the shadow run failed; output and labels are then absent. */
  errorCode?: string | undefined;
  inferenceMs?: number | undefined;
}

/**
 * The shadow runs' results, beside the jobs' own (`job_shadow_results`): written by the worker,
 * read only by the rollout comparison, never by a job's owner. A job deleted meanwhile takes its
 * shadow results with it (foreign key, cascade), and a shadow result for a job already gone is
 * dropped rather than failing.
 */
export class ShadowResults {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Writes one shadow result; a second write for the same job and version is a no-op. Returns whether it was written. */
  async write(result: ShadowResult, now = new Date()): Promise<boolean> {
    const { rowCount } = await sqlPool(this.#db).query({
      name: 'inferq-shadow-result',
      text: `INSERT INTO job_shadow_results (job_id, model_name, model_version, output, labels, error_code, inference_ms, created_at)
             SELECT $1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $1)
             ON CONFLICT (job_id, model_version) DO NOTHING`,
      values: [
        result.jobId,
        result.modelName,
        result.modelVersion,
        result.output === undefined ? null : JSON.stringify(result.output),
        result.labels === undefined ? null : JSON.stringify(result.labels),
        result.errorCode ?? null,
        result.inferenceMs === undefined ? null : Math.round(result.inferenceMs),
        now,
      ],
    });
    return (rowCount ?? 0) > 0;
  }
}
