import {
  maxBulkJobs,
  queueUnavailable,
  type CleanJobsBody,
  type CleanJobsView,
  type QueueControlView,
  type RetryFailedBody,
  type RetryFailedView,
} from '@inferq/core';
import type { JobMaintenance } from '@inferq/db';
import { queuesPaused, setQueuesPaused, type InferenceQueue } from '@inferq/queue';
import { inputBlobKey, resultSinkKey, type BlobStore } from '@inferq/storage';
import { retryEach } from './retryEach.ts';

export interface QueueOperationsOptions {
  maintenance: JobMaintenance;
  /** Where inputs are kept outside Postgres: a clean deletes the jobs' blobs too. @defaultValue none */
  blobs?: BlobStore | undefined;
  /** Every inference queue the operators' buttons act on (one today; one per model later). */
  queues: () => readonly InferenceQueue[];
  /** Runs one failed job again: the same retry as `POST /v1/admin/jobs/:id/retry`. */
  retry: (id: string) => Promise<unknown>;
  /** Retries run at once during a bulk retry. @defaultValue 8 */
  retryConcurrency?: number;
  /** @defaultValue () => new Date() */
  now?: () => Date;
}

function assertReady(queues: readonly InferenceQueue[]): void {
  if (queues.some((queue) => !queue.isReady())) throw queueUnavailable();
}

/**
 * The operators' bulk actions, after bull-board's queue buttons: pause and resume, retry every
 * failed job, clean finished jobs older than an age. The Postgres row is the source of truth:
 * a retry is the single-job retry run for each failed row, a clean deletes rows first and then
 * their queue entries, so the queue never holds a job Postgres has lost. Knows nothing of HTTP.
 */
export class QueueOperations {
  readonly #options: QueueOptionsResolved;

  constructor(options: QueueOperationsOptions) {
    this.#options = { retryConcurrency: 8, now: () => new Date(), ...options };
  }

  async state(): Promise<QueueControlView> {
    const queues = this.#options.queues();
    assertReady(queues);
    return queuesPaused(queues);
  }

  /** Workers take no new jobs until resumed; attempts already running finish. Idempotent. */
  async setPaused(paused: boolean): Promise<QueueControlView> {
    const queues = this.#options.queues();
    assertReady(queues);
    return setQueuesPaused(queues, paused);
  }

  /**
   * Puts failed jobs (one user's, or everyone's) back in the queue, oldest failure first, up to
   * `limit`. A job that changed meanwhile (retried by someone else, still held by a worker) is
   * left and counted in `remaining`; a queue that goes away stops the run with its error.
   */
  async retryFailed(body: RetryFailedBody = {}): Promise<RetryFailedView> {
    assertReady(this.#options.queues());
    const { ids, total } = await this.#options.maintenance.listFailedIds({
      userId: body.userId,
      limit: body.limit ?? maxBulkJobs,
    });
    const retried = await retryEach(ids, this.#options.retry, this.#options.retryConcurrency);
    return { retried, remaining: total - retried };
  }

  /**
   * Deletes finished jobs of the given statuses older than an age (by when they finished), with
   * their inputs, results and webhook deliveries, then their entries in every queue; or, with
   * `dryRun`, counts them.
   */
  async clean(body: CleanJobsBody): Promise<CleanJobsView> {
    const limit = body.limit ?? maxBulkJobs;
    const query = {
      statuses: body.statuses,
      finishedBefore: new Date(this.#options.now().getTime() - body.olderThanSeconds * 1000),
      userId: body.userId,
    };
    if (body.dryRun) {
      const count = await this.#options.maintenance.countFinished(query);
      return { deleted: Math.min(count, limit), remaining: Math.max(0, count - limit), dryRun: true };
    }
    const queues = this.#options.queues();
    assertReady(queues);
    const { ids, remaining, resultCopies } = await this.#options.maintenance.deleteFinished({ ...query, limit });
    // Completed and failed entries BullMQ still keeps (an hour, a day) would otherwise outlive their rows.
    for (const queue of queues) await queue.removeMany(ids);
    await this.#options.blobs?.delete([
      ...ids.map((id) => inputBlobKey(id)),
      ...resultCopies.map((copy) => resultSinkKey(copy.id, copy.resultPrefix)),
    ]);
    return { deleted: ids.length, remaining, dryRun: false };
  }
}

type QueueOptionsResolved = QueueOperationsOptions & Required<Pick<QueueOperationsOptions, 'retryConcurrency' | 'now'>>;
