import type pg from 'pg';
import { sqlPool, type Database } from './client.ts';
import { admitMany, type AdmitRequest } from './admitMany.ts';
import { jobWithResult, type JobRecord } from './jobRows.ts';

export interface NewJob {
  id: string;
  userId: string;
  modelName: string;
  requestedVersion?: string | undefined;
  /** The version a traffic split sent the job to (it named none). */
  routedVersion?: string | undefined;
  input: {
    /** The stored image; its length is the job's `inputBytes`. Written to job_inputs unless `blobKey` says where it is already. */
    data: Buffer;
    /** Where the blob store holds `data` (written there before admission); the row then keeps only this reference. */
    blobKey?: string | undefined;
    format: string;
    width: number;
    height: number;
    sha256: string;
    /** The uploaded file's name, already sanitized (core's sanitizeFileName). */
    fileName?: string | null | undefined;
  };
  /** BullMQ priority the job is enqueued with (stored for views and audits). */
  priority?: number | undefined;
  /** When the input and result may be deleted (the owner's tier retention). */
  expiresAt?: Date | undefined;
  /** The submit's `Idempotency-Key`; unique per user. */
  idempotencyKey?: string | undefined;
  /** Where to POST the job when it reaches a final state (checked by the caller). */
  webhookUrl?: string | undefined;
  /** Which events the webhook receives. @defaultValue ['completed'] */
  webhookEvents?: readonly string[] | undefined;
  /** The job must start by then, or it becomes `expired` (the submit's ttl). @defaultValue none */
  startBy?: Date | undefined;
  /** Execution deadline of each attempt, in ms (Cancel-After). @defaultValue none */
  cancelAfterMs?: number | undefined;
  /** Where in the blob store a copy of the result goes (`results/<prefix>/<id>.json`). @defaultValue none */
  resultPrefix?: string | undefined;
  /** The client's metadata, already checked (core's parseJobMetadata). @defaultValue none */
  metadata?: Readonly<Record<string, string>> | undefined;
}

/** The owner's limit on jobs queued or running at once, checked and applied atomically. */
export interface InFlightLimit {
  /** Jobs the owner may have queued or running at once. */
  maxInFlight: number;
  /** The priority of the new job given how many the owner already has in flight. */
  priorityFor?: (inFlight: number) => number;
  /** How long an idempotency key returns the same job. @defaultValue 24 h */
  idempotencyWindowMs?: number;
}

export type AdmitResult =
  | { outcome: 'created'; job: JobRecord; inFlight: number }
  | { outcome: 'over-quota'; inFlight: number; maxInFlight: number }
  | { outcome: 'duplicate'; job: JobRecord };

/**
 * The submit path's writes: a new job is admitted against its owner's quota (or answered with the
 * job of an earlier submit under the same idempotency key), and discarded when its enqueue fails.
 */
export class JobAdmission {
  readonly db: Database;
  /** Admissions in progress in this process, by user: each waits for the one before it. */
  readonly #admitting = new Map<string, Promise<unknown>>();
  /** The pool under `db`: the statements every job runs go through pg directly (see sqlPool). */
  readonly #sql: pg.Pool;

  constructor(db: Database) {
    this.db = db;
    this.#sql = sqlPool(db);
  }

  /**
   * Creates the job unless its owner is at `limit.maxInFlight` queued + running jobs, or returns
   * the job already submitted with the same idempotency key within the window. Race-safe across
   * API instances: a transaction-scoped advisory lock per user serializes one user's admissions
   * (other users do not wait), and the count is an index-only scan of (user_id, status) over at
   * most `maxInFlight` entries.
   */
  async admit(job: NewJob, limit: InFlightLimit, now = new Date()): Promise<AdmitResult> {
    // One admission per user at a time in this process, before a pool connection is taken: a
    // user's burst then holds one connection waiting on the lock, not the whole pool.
    const previous = this.#admitting.get(job.userId);
    // The transaction is admitMany's with one job: one statement set for both paths.
    const run = (previous ?? Promise.resolve()).then(
      async () => (await admitMany(this.#sql, [{ job, limit }], now))[0]!,
    );
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#admitting.set(job.userId, settled);
    try {
      return await run;
    } finally {
      if (this.#admitting.get(job.userId) === settled) this.#admitting.delete(job.userId);
    }
  }

  /** The job submitted by `userId` with this idempotency key since `since`, if any. */
  async findByIdempotencyKey(userId: string, idempotencyKey: string, since: Date): Promise<JobRecord | null> {
    const job = await this.db.job.findUnique({
      where: { userId_idempotencyKey: { userId, idempotencyKey } },
      include: jobWithResult,
    });
    return job && job.createdAt >= since ? job : null;
  }

  /**
   * Admits many jobs, of one user or many, in one transaction (group commit; see admitMany):
   * the quota holds as it does for `admit`, across calls and API instances. Results in order.
   */
  async admitMany(requests: readonly AdmitRequest[], now = new Date()): Promise<AdmitResult[]> {
    return admitMany(this.#sql, requests, now);
  }

  /** Removes a job that was never accepted (its enqueue failed before the client got an id). */
  async discard(id: string): Promise<void> {
    await this.discardMany([id]);
  }

  /** Removes jobs that were never accepted, in one statement. */
  async discardMany(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#sql.query({
      name: 'inferq-admit-discard',
      text: `DELETE FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'queued'`,
      values: [ids],
    });
  }
}
