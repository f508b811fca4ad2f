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

/**
 * Job rows, inputs and results. Every status change is conditional on the row not being final
 * yet, so a retried or duplicated attempt can never flip a finished job back or write twice.
 */
export class JobStore {
  readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async create(job: NewJob): Promise<JobRecord> {
    return this.db.job.create({
      data: {
        id: job.id,
        userId: job.userId,
        modelName: job.modelName,
        requestedVersion: job.requestedVersion ?? null,
        inputFormat: job.input.format,
        inputWidth: job.input.width,
        inputHeight: job.input.height,
        inputBytes: job.input.data.byteLength,
        inputSha256: job.input.sha256,
        input: { create: { data: job.input.data as Uint8Array<ArrayBuffer> } },
      },
      include: jobWithResult,
    });
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
}
