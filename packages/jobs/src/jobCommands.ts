import type { Principal } from '@inferq/accounts';
import { AppError, isFinalStatus, isUuid, queueUnavailable, type JobStatus } from '@inferq/core';
import type { DeletedJobs, JobMaintenance, JobQueries, JobRecord } from '@inferq/db';
import type { JobLifecycle } from '@inferq/lifecycle';
import type { InferenceQueue, PixelStore } from '@inferq/queue';
import { blobPrefixes, inputBlobKey, resultSinkKey, type BlobStore } from '@inferq/storage';
import { findJob, findOwnedJob, jobNotFound } from './jobLookup.ts';
import { storageUnavailable } from './storageUnavailable.ts';
import type { RecentJobs } from './recentJobs.ts';

export interface JobCommandsOptions {
  /** Reads of jobs. */
  queries: JobQueries;
  /** Deletions on the owner's request (a job, or all of an account's). @defaultValue none: they answer 500 */
  maintenance?: JobMaintenance | undefined;
  queue: InferenceQueue;
  /** Status changes, each written and announced: cancel, and an operator's retry. */
  lifecycle: JobLifecycle;
  /** Pixels handed over at submit, dropped with their job. @defaultValue none */
  pixels?: PixelStore | undefined;
  /** Where inputs, uploads and result copies are deleted from (BLOB_STORE_URL). @defaultValue none: nothing to delete there */
  blobs?: BlobStore | undefined;
  /** The jobs this process admitted lately (a deletion is not announced: they are dropped here). @defaultValue none */
  recent?: RecentJobs | undefined;
}

const jobFinished = (status: JobStatus) =>
  new AppError('JOB_FINISHED', `The job is already ${status}.`, { details: { status } });

/**
 * What changes a job after its submit, on its owner's or an operator's request: cancel, delete
 * (one job, or all of an account's), and an operator's retry of a failed job. Returns data or
 * throws AppError; knows nothing of HTTP.
 */
export class JobCommands {
  readonly #options: JobCommandsOptions;

  constructor(options: JobCommandsOptions) {
    this.#options = options;
  }

  /**
   * Cancels a job of the caller's. Queued: it leaves the queue. Running: the attempt finishes but
   * its result is discarded. Already final: 409 JOB_FINISHED.
   */
  async cancel(principal: Principal, id: string): Promise<JobRecord> {
    return this.#cancel(await findOwnedJob(this.#options.queries, principal, id));
  }

  /** Cancels any user's job, as `cancel` does for the owner's; for operators. */
  async cancelAny(id: string): Promise<JobRecord> {
    return this.#cancel(await findJob(this.#options.queries, id));
  }

  async #cancel(job: JobRecord): Promise<JobRecord> {
    const { lifecycle, queries, queue } = this.#options;
    if (isFinalStatus(job.status)) throw jobFinished(job.status);
    const canceled = await lifecycle.cancel({ id: job.id, userId: job.userId, model: job.modelName }, async () => {
      // Best effort: a job still in Redis (running, or Redis down) is skipped by the worker, which
      // only starts queued or running rows.
      await queue.remove(job.id, job.modelName).catch(() => false);
      void this.#options.pixels?.removeMany([job.id]).catch(() => {});
    });
    if (!canceled) throw jobFinished((await queries.get(job.id))?.status ?? job.status);
    return (await queries.get(job.id)) ?? job;
  }

  /**
   * Deletes a job of the caller's with its input, result and webhook deliveries, whatever its
   * status: a queued job leaves the queue, a running one is forgotten (its late result matches no
   * row and is dropped). Another user's job, or one already deleted, is JOB_NOT_FOUND.
   */
  async delete(principal: Principal, id: string): Promise<void> {
    if (!isUuid(id)) throw jobNotFound();
    const deleted = await this.#deleteOwned({ userId: principal.userId, id });
    if (deleted.count === 0) throw jobNotFound();
  }

  /** Deletes every job of a user (an account's erasure), as `delete` does one. */
  async deleteAllOf(userId: string): Promise<DeletedJobs> {
    return this.#deleteOwned({ userId });
  }

  async #deleteOwned(query: { userId: string; id?: string }): Promise<DeletedJobs> {
    const { maintenance, queue } = this.#options;
    if (!maintenance) throw new Error('JobCommands was built without maintenance: deletions are off');
    const deleted = await maintenance.deleteOwned(query);
    if (query.id) this.#options.recent?.forget([query.id]);
    else this.#options.recent?.forgetUser(query.userId);
    // Postgres first, then the queue, best effort: an entry left behind (Redis down, or held by a
    // worker) finds no row, and the worker skips it.
    await Promise.all(deleted.inFlight.map((job) => queue.discard(job.id, job.modelName).catch(() => 0)));
    // Handed-over pixels are a copy of the input: they go too (else their TTL drops them).
    await this.#options.pixels?.removeMany(deleted.inFlight.map((job) => job.id)).catch(() => {});
    const blobs = this.#options.blobs;
    if (blobs) {
      // Not best effort: an erasure that leaves bytes behind must fail loudly, and the rows are
      // gone already, so the keys come from the ids.
      try {
        await blobs.delete([
          ...deleted.ids.map((id) => inputBlobKey(id)),
          ...deleted.resultCopies.map((copy) => resultSinkKey(copy.id, copy.resultPrefix)),
        ]);
        if (!query.id) await blobs.delete(await blobs.list(`${blobPrefixes.uploads}${query.userId.toLowerCase()}/`));
      } catch (error) {
        throw storageUnavailable(error);
      }
    }
    return deleted;
  }

  /**
   * Runs a failed job again under the same id, for operators: BullMQ's failed entry is removed,
   * the row goes back to `queued` with its error cleared, and the job is enqueued. If the enqueue
   * fails the row is failed again with its old error, so it never looks queued without being in
   * the queue.
   */
  async retry(id: string): Promise<JobRecord> {
    const { lifecycle, queue } = this.#options;
    const row = await findJob(this.#options.queries, id);
    if (row.status !== 'failed') {
      throw new AppError('CONFLICT', 'Only a failed job can be retried.', { details: { status: row.status } });
    }
    if (!queue.isReady()) throw queueUnavailable();
    const entry = await queue.getJob(id, row.modelName);
    if (entry) {
      if ((await entry.getState()) === 'active') throw new AppError('CONFLICT', 'The job is still held by a worker.');
      // BullMQ ignores an add whose id exists, so the old entry must go first.
      await entry.remove();
    }
    // Should the enqueue fail, the lifecycle fails the row again with its old error.
    const reset = await lifecycle.requeueFailed(
      { id, userId: row.userId, model: row.modelName, errorCode: row.errorCode, errorMessage: row.errorMessage },
      () =>
        queue.enqueue(
          {
            jobId: id,
            model: row.modelName,
            ...((row.requestedVersion ?? row.routedVersion)
              ? { modelVersion: (row.requestedVersion ?? row.routedVersion) as string }
              : {}),
          },
          row.priority !== null ? { priority: row.priority } : {},
        ),
    );
    if (!reset) throw new AppError('CONFLICT', 'The job changed meanwhile; reload it.');
    return reset;
  }
}
