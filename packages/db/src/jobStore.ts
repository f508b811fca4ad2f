import { Prisma } from '@prisma/client';
import type { JobStatus } from '@inferq/core';
import type { Database } from './client.ts';

export interface NewJob {
  id: string;
  userId: string;
  modelName: string;
  requestedVersion?: string | undefined;
  input: {
    data: Buffer;
    format: string;
    width: number;
    height: number;
    sha256: string;
  };
  /** BullMQ priority the job is enqueued with (stored for views and audits). */
  priority?: number | undefined;
  /** When the input and result may be deleted (the owner's tier retention). */
  expiresAt?: Date | undefined;
  /** The submit's `Idempotency-Key`; unique per user. */
  idempotencyKey?: string | undefined;
  /** Where to POST the job when it reaches a final state (checked by the caller). */
  webhookUrl?: string | undefined;
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

export interface JobListQuery {
  /** Only this owner's jobs; all users' when absent. */
  userId?: string | undefined;
  statuses?: JobStatus[] | undefined;
  /** Continue after this job (the last one of the previous page). */
  after?: { createdAt: Date; id: string } | undefined;
  limit: number;
}

export interface JobResultData {
  modelName: string;
  modelVersion: string;
  output: number[][];
  labels?: unknown;
}

export interface CompletedJob {
  id: string;
  workerId: string;
  result: JobResultData;
  inferenceMs: number;
}

const jobWithResult = { result: true } as const satisfies Prisma.JobInclude;
export type JobRecord = Prisma.JobGetPayload<{ include: typeof jobWithResult }>;

const finalStatuses: JobStatus[] = ['succeeded', 'failed', 'canceled'];
const inFlightStatuses: JobStatus[] = ['queued', 'running'];
const dayMs = 24 * 3600 * 1000;
/** First key of the per-user advisory lock taken while admitting a job (any fixed number). */
const admitLockSpace = 0x1f0b;

/**
 * Job rows, inputs and results. Every status change is conditional on the row not being final
 * yet, so a retried or duplicated attempt can never flip a finished job back or write twice.
 */
export class JobStore {
  readonly db: Database;
  /** Admissions in progress in this process, by user: each waits for the one before it. */
  readonly #admitting = new Map<string, Promise<unknown>>();

  constructor(db: Database) {
    this.db = db;
  }

  #rowOf(job: NewJob): Prisma.JobUncheckedCreateInput {
    return {
      id: job.id,
      userId: job.userId,
      modelName: job.modelName,
      requestedVersion: job.requestedVersion ?? null,
      inputFormat: job.input.format,
      inputWidth: job.input.width,
      inputHeight: job.input.height,
      inputBytes: job.input.data.byteLength,
      inputSha256: job.input.sha256,
      priority: job.priority ?? null,
      expiresAt: job.expiresAt ?? null,
      idempotencyKey: job.idempotencyKey ?? null,
      webhookUrl: job.webhookUrl ?? null,
      input: { create: { data: job.input.data as Uint8Array<ArrayBuffer> } },
    };
  }

  async create(job: NewJob): Promise<JobRecord> {
    return this.db.job.create({ data: this.#rowOf(job), include: jobWithResult });
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
    const run = (previous ?? Promise.resolve()).then(() => this.#admitNow(job, limit, now));
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

  async #admitNow(job: NewJob, limit: InFlightLimit, now: Date): Promise<AdmitResult> {
    const windowStart = new Date(now.getTime() - (limit.idempotencyWindowMs ?? dayMs));
    return this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${admitLockSpace}::int, hashtext(${job.userId}))`;
      if (job.idempotencyKey) {
        const existing = await tx.job.findUnique({
          where: { userId_idempotencyKey: { userId: job.userId, idempotencyKey: job.idempotencyKey } },
          include: jobWithResult,
        });
        if (existing && existing.createdAt >= windowStart) return { outcome: 'duplicate' as const, job: existing };
        // An expired key is free again: the old job keeps its id but loses the key.
        if (existing) await tx.job.update({ where: { id: existing.id }, data: { idempotencyKey: null } });
      }
      const inFlight = await tx.job.count({ where: { userId: job.userId, status: { in: inFlightStatuses } } });
      if (inFlight >= limit.maxInFlight) return { outcome: 'over-quota' as const, inFlight, maxInFlight: limit.maxInFlight };
      const priority = limit.priorityFor ? limit.priorityFor(inFlight) : job.priority;
      const created = await tx.job.create({ data: this.#rowOf({ ...job, priority }), include: jobWithResult });
      return { outcome: 'created' as const, job: created, inFlight };
    });
  }

  /** The job submitted by `userId` with this idempotency key since `since`, if any. */
  async findByIdempotencyKey(userId: string, idempotencyKey: string, since: Date): Promise<JobRecord | null> {
    const job = await this.db.job.findUnique({ where: { userId_idempotencyKey: { userId, idempotencyKey } }, include: jobWithResult });
    return job && job.createdAt >= since ? job : null;
  }

  /** Queued + running jobs of one user. */
  async countInFlight(userId: string): Promise<number> {
    return this.db.job.count({ where: { userId, status: { in: inFlightStatuses } } });
  }

  /** Queued + running jobs per user, for the users that have any. */
  async inFlightByUser(): Promise<Map<string, number>> {
    const groups = await this.db.job.groupBy({ by: ['userId'], where: { status: { in: inFlightStatuses } }, _count: { _all: true } });
    return new Map(groups.filter((group) => group.userId).map((group) => [group.userId!, group._count._all]));
  }

  /** Jobs newest first (ties broken by id), for cursor pagination. */
  async list(query: JobListQuery): Promise<JobRecord[]> {
    const after = query.after;
    return this.db.job.findMany({
      where: {
        ...(query.userId ? { userId: query.userId } : {}),
        ...(query.statuses?.length ? { status: { in: query.statuses } } : {}),
        ...(after
          ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] }
          : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: query.limit,
      include: jobWithResult,
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

  /** Removes a job that was never accepted (its enqueue failed before the client got an id). */
  async discard(id: string): Promise<void> {
    await this.db.job.deleteMany({ where: { id, status: 'queued' } });
  }

  async get(id: string): Promise<JobRecord | null> {
    return this.db.job.findUnique({ where: { id }, include: jobWithResult });
  }

  async getInput(id: string): Promise<Buffer | null> {
    const input = await this.db.jobInput.findUnique({ where: { jobId: id } });
    return input ? Buffer.from(input.data) : null;
  }

  /**
   * Marks a job running for this attempt. Returns null when the job is gone or already final, in
   * which case the attempt must not run.
   */
  async start(id: string, workerId: string, now = new Date()): Promise<JobRecord | null> {
    const rows = await this.db.$queryRaw<Array<{ id: string }>>`
      UPDATE jobs
         SET status = 'running',
             attempts = attempts + 1,
             worker_id = ${workerId},
             started_at = ${now},
             queue_wait_ms = COALESCE(queue_wait_ms, GREATEST(0, (EXTRACT(EPOCH FROM (${now}::timestamptz - created_at)) * 1000)::int)),
             updated_at = ${now}
       WHERE id = ${id}::uuid AND status IN ('queued', 'running')
   RETURNING id`;
    if (rows.length === 0) return null;
    return this.get(id);
  }

  /**
   * Writes results for a whole batch in one transaction. The result's primary key makes a second
   * write of the same job a no-op, and only unfinished jobs move to `succeeded`.
   * Returns the ids whose status this call moved to `succeeded`.
   */
  async completeMany(jobs: CompletedJob[], now = new Date()): Promise<string[]> {
    if (jobs.length === 0) return [];
    const ids = jobs.map((job) => job.id);
    return this.db.$transaction(async (tx) => {
      // Lock the rows so a concurrent cancel or duplicate attempt sees a consistent state.
      const open = await tx.$queryRaw<Array<{ id: string }>>`
        SELECT id FROM jobs WHERE id = ANY(${ids}::uuid[]) AND status IN ('queued', 'running') FOR UPDATE`;
      const openIds = new Set(open.map((row) => row.id));
      const writable = jobs.filter((job) => openIds.has(job.id));
      if (writable.length === 0) return [];
      await tx.jobResult.createMany({
        data: writable.map((job) => ({
          jobId: job.id,
          modelName: job.result.modelName,
          modelVersion: job.result.modelVersion,
          output: job.result.output,
          labels: (job.result.labels ?? Prisma.JsonNull) as Prisma.InputJsonValue,
        })),
        skipDuplicates: true,
      });
      for (const job of writable) {
        await tx.job.update({
          where: { id: job.id },
          data: {
            status: 'succeeded',
            modelVersion: job.result.modelVersion,
            workerId: job.workerId,
            inferenceMs: Math.round(job.inferenceMs),
            finishedAt: now,
            errorCode: null,
            errorMessage: null,
          },
        });
      }
      return writable.map((job) => job.id);
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
      },
    });
    return count > 0 ? this.get(id) : null;
  }
}
