import type pg from 'pg';
import { finalJobStatuses, inFlightJobStatuses, type JobStatus } from '@inferq/core';
import { sqlPool, type Database } from './client.ts';
import type { StoredInput } from './inputBlobs.ts';
import { inFlightStatusesSql, jobRecordFromRow, jobWithResultColumnsOf, selectJob, type JobRecord } from './jobRows.ts';

export interface JobResultData {
  modelName: string;
  modelVersion: string;
  /** The engine that ran the model: `onnxruntime-cpu`, `tfjs-wasm`, … */
  engine?: string | undefined;
  /** An image model's output vector(s); a tensor model's outputs and reading (`{ outputs, reading }`). */
  output: number[][] | { outputs: unknown[]; reading: unknown };
  labels?: unknown;
}

/** A job moved to `running` for an attempt, with what the worker needs to run it. */
export interface StartedJob {
  id: string;
  userId: string | null;
  /** Attempts so far, this one included. */
  attempts: number;
  queueWaitMs: number | null;
  /** The stored input bytes; null when they are gone, or were not asked for (see startMany's `withoutInput`). */
  input: Buffer | null;
  /** Where a copy of the result goes in the blob store (`results/<prefix>/<id>.json`); null: nowhere. */
  resultPrefix: string | null;
  /** The input's key in the blob store; null while its bytes are in Postgres (`input`). */
  inputKey: string | null;
  /** Whether the job's input row exists (its bytes may still not have been read). */
  hasInput: boolean;
  /** The model pixels stored with the input, and the key of their spec; null when none were made. */
  pixels: Buffer | null;
  pixelsSpec: string | null;
  /** Execution deadline of the attempt in ms (the submit's Cancel-After); null: none. */
  cancelAfterMs: number | null;
  /**
   * True when the job was past its ttl (`start_by`) and never started: it was moved to `expired`
   * instead of `running`, and the attempt must not run.
   */
  expired: boolean;
}

/** The condition, on a row `j` at time `$3`, of a job that never started and is past its ttl. */
const pastTtlSql = `j.status = 'queued' AND j.attempts = 0 AND j.start_by IS NOT NULL AND j.start_by <= $3`;

export interface CompletedJob {
  id: string;
  workerId: string;
  result: JobResultData;
  inferenceMs: number;
  /** From the attempt's start to the start of its model batch (preprocessing, waiting for the batch). */
  heldMs?: number | undefined;
}

const finalStatuses = [...finalJobStatuses];
/** The error stored on an expired job (its view shows it with the code EXPIRED). */
export const expiredMessage = 'The job did not start within its ttlSeconds; it never ran.';
const inFlightStatuses: JobStatus[] = [...inFlightJobStatuses];

/**
 * A job's status changes after admission: attempts start, complete, fail or are retried; owners
 * and operators cancel; operators send a failed job round again. Every change is conditional on
 * the row not being final yet, so a retried or duplicated attempt can never flip a finished job
 * back or write twice.
 */
export class JobExecution {
  readonly db: Database;
  /** The pool under `db`: the statements every job runs go through pg directly (see sqlPool). */
  readonly #sql: pg.Pool;

  constructor(db: Database) {
    this.db = db;
    this.#sql = sqlPool(db);
  }

  /**
   * Marks jobs running for an attempt each and reads their inputs, in one statement for the whole
   * set. Jobs that are gone or already final are missing from the answer: their attempts must not
   * run. A job that never started and is past its ttl is moved to `expired` in the same statement
   * and answered with `expired: true` (no input read): the check and the start cannot race. The
   * bytes of jobs in `withoutInput` are not read (the worker has their pixels already).
   */
  async startMany(
    ids: string[],
    workerId: string,
    now = new Date(),
    withoutInput: readonly string[] = [],
  ): Promise<Map<string, StartedJob>> {
    if (ids.length === 0) return new Map();
    const { rows } = await this.#sql.query<StartedJob>({
      name: 'inferq-job-start-many',
      text: `
        WITH expired AS (
          UPDATE jobs j
             SET status = 'expired', error_code = 'EXPIRED', error_message = '${expiredMessage}', finished_at = $3, updated_at = $3
           WHERE j.id = ANY($1::uuid[]) AND ${pastTtlSql}
       RETURNING j.id, j.user_id
        ), started AS (
          UPDATE jobs j
             SET status = 'running',
                 attempts = j.attempts + 1,
                 worker_id = $2,
                 started_at = $3,
                 queue_wait_ms = COALESCE(j.queue_wait_ms, GREATEST(0, (EXTRACT(EPOCH FROM ($3::timestamptz - j.created_at)) * 1000)::int)),
                 updated_at = $3
           WHERE j.id = ANY($1::uuid[]) AND j.status IN (${inFlightStatusesSql}) AND NOT (${pastTtlSql})
       RETURNING j.id, j.user_id, j.attempts, j.queue_wait_ms, j.cancel_after_ms, j.result_prefix
        )
        SELECT s.id, s.user_id AS "userId", s.attempts, s.queue_wait_ms AS "queueWaitMs", s.result_prefix AS "resultPrefix",
               CASE WHEN s.id = ANY($4::uuid[]) THEN NULL ELSE i.data END AS input, i.blob_key AS "inputKey", i.job_id IS NOT NULL AS "hasInput",
               CASE WHEN s.id = ANY($4::uuid[]) THEN NULL ELSE i.pixels END AS pixels, i.pixels_spec AS "pixelsSpec",
               s.cancel_after_ms AS "cancelAfterMs", false AS expired
          FROM started s LEFT JOIN job_inputs i ON i.job_id = s.id
        UNION ALL
        SELECT e.id, e.user_id, 0, NULL, NULL, NULL, NULL, false, NULL, NULL, NULL, true FROM expired e`,
      values: [ids, workerId, now, withoutInput],
    });
    return new Map(rows.map((row) => [row.id, row]));
  }

  /** Where a job's input is (its bytes, or its blob key), for an attempt that started without them; null when it is gone. */
  async inputOf(id: string): Promise<StoredInput | null> {
    const { rows } = await this.#sql.query<{ data: Buffer | null; blob_key: string | null }>({
      name: 'inferq-job-input',
      text: 'SELECT data, blob_key FROM job_inputs WHERE job_id = $1',
      values: [id],
    });
    const row = rows[0];
    return row?.blob_key ? { blobKey: row.blob_key } : row?.data ? { data: row.data } : null;
  }

  /**
   * Writes results for a whole batch in one statement: only unfinished jobs move to `succeeded`
   * (the status check is made again on each row once it is locked, so a concurrent cancel or
   * duplicate attempt wins or loses as a whole), and only those get a result row, whose primary key
   * makes a second write a no-op. Returns the ids whose status this call moved to `succeeded`.
   */
  async completeMany(jobs: CompletedJob[], now = new Date()): Promise<string[]> {
    return (await this.completeManyRecords(jobs, now)).map((finished) => finished.id);
  }

  /**
   * completeMany, answering each job this call moved to `succeeded` as it now is, with its result
   * (`record`: the row a read right after the commit would return; null in the one case the
   * statement cannot tell, a result row that was there already).
   */
  async completeManyRecords(
    jobs: CompletedJob[],
    now = new Date(),
  ): Promise<Array<{ id: string; record: JobRecord | null }>> {
    if (jobs.length === 0) return [];
    const done = jobs.map((job) => ({
      id: job.id,
      worker_id: job.workerId,
      model_name: job.result.modelName,
      model_version: job.result.modelVersion,
      engine: job.result.engine ?? null,
      inference_ms: Math.round(job.inferenceMs),
      held_ms: job.heldMs === undefined ? null : Math.round(job.heldMs),
      output: job.result.output,
      labels: job.result.labels ?? null,
    }));
    const { rows } = await this.#sql.query<Record<string, unknown>>({
      name: 'inferq-job-complete-many-records',
      text: `
        WITH done AS (
          SELECT * FROM jsonb_to_recordset($1::jsonb)
            AS d(id uuid, worker_id text, model_name text, model_version text, engine text, inference_ms int, held_ms int, output jsonb, labels jsonb)
        ), updated AS (
          UPDATE jobs j
             SET status = 'succeeded', model_version = d.model_version, engine = d.engine, worker_id = d.worker_id, inference_ms = d.inference_ms, held_ms = d.held_ms,
                 finished_at = $2, error_code = NULL, error_message = NULL, updated_at = $2
            FROM done d
           WHERE j.id = d.id AND j.status IN (${inFlightStatusesSql})
       RETURNING j.*
        ), results AS (
          INSERT INTO job_results (job_id, model_name, model_version, output, labels)
          SELECT d.id, d.model_name, d.model_version, d.output, COALESCE(d.labels, 'null'::jsonb) FROM done d JOIN updated u ON u.id = d.id
          ON CONFLICT (job_id) DO NOTHING
       RETURNING *
        )
        SELECT ${jobWithResultColumnsOf('u', 'r')} FROM updated u LEFT JOIN results r ON r.job_id = u.id`,
      values: [JSON.stringify(done), now],
    });
    return rows.map((row) => {
      const record = jobRecordFromRow(row);
      // No result row came back: one was there already, and the statement cannot see it.
      return { id: record.id, record: record.result ? record : null };
    });
  }

  /** Fails a job for good unless it is already final. Returns whether the row changed. */
  async fail(id: string, code: string, message: string, now = new Date()): Promise<boolean> {
    const { count } = await this.db.job.updateMany({
      where: { id, status: { notIn: finalStatuses } },
      data: { status: 'failed', errorCode: code, errorMessage: message.slice(0, 2000), finishedAt: now },
    });
    return count > 0;
  }

  /** Records the error of an attempt that will be retried; the job goes back to `queued`. */
  async recordRetry(id: string, code: string, message: string): Promise<void> {
    await this.db.job.updateMany({
      where: { id, status: 'running' },
      data: { status: 'queued', errorCode: code, errorMessage: message.slice(0, 2000) },
    });
  }

  /**
   * Cancels a job that is not final yet. A running attempt finishes, but its result is discarded:
   * completeMany, fail and recordRetry only touch unfinished rows. Returns whether the row changed.
   */
  async cancel(id: string, now = new Date()): Promise<boolean> {
    const { count } = await this.db.job.updateMany({
      where: { id, status: { in: inFlightStatuses } },
      data: { status: 'canceled', canceledAt: now, finishedAt: now },
    });
    return count > 0;
  }

  /**
   * Puts a failed job back to `queued` for an operator's retry: error, timings and worker cleared,
   * attempts kept (they count every try). Returns null unless the job was failed.
   */
  async resetForRetry(id: string): Promise<JobRecord | null> {
    const { count } = await this.db.job.updateMany({
      where: { id, status: 'failed' },
      data: {
        status: 'queued',
        errorCode: null,
        errorMessage: null,
        workerId: null,
        startedAt: null,
        finishedAt: null,
        queueWaitMs: null,
        inferenceMs: null,
        heldMs: null,
      },
    });
    return count > 0 ? selectJob(this.#sql, id) : null;
  }
}
