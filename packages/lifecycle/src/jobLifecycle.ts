import type { JobStatus } from '@inferq/core';
import type { CompletedJob, JobExecution, JobMaintenance, JobRecord, StartedJob } from '@inferq/db';
import type { JobEventPublisher } from '@inferq/queue';

/** A job as a transition names it: the row's id, and who and what its event is for. */
export interface JobRef {
  id: string;
  /** The owner; null when the user is gone. */
  userId: string | null;
  model: string;
}

/** What runs after a status write and before its announcement (a queue removal, a result copy); throwing stops the announcement. */
export type BeforeAnnounce = () => Promise<unknown>;

/** A result to write, with the job's owner and model for its announcement. */
export interface SucceedingJob extends CompletedJob {
  userId: string | null;
  model: string;
  /** Runs once this job's row is written and before `succeeded` is announced (the result sink copy). */
  beforeAnnounce?: BeforeAnnounce | undefined;
}

/** `inferq_jobs_finished_total` (`@inferq/metrics`), or anything counting the same labels. */
export interface FinishedCounter {
  inc(labels: { model: string; status: JobStatus; code: string }): void;
}

export interface JobLifecycleOptions {
  /** The status writes of attempts, cancels and retries. */
  execution: JobExecution;
  /** The ttl sweep's write (`expireUnstarted`). @defaultValue none: expireUnstarted throws */
  maintenance?: JobMaintenance | undefined;
  /** Where transitions are announced (live streams, waiters, webhooks). @defaultValue none: nothing is announced */
  events?: JobEventPublisher | undefined;
  /**
   * Counts the jobs this process moves to a final status (succeeded, failed, expired): the
   * worker's and the reconciler's. The API counts its cancels in its route. @defaultValue none
   */
  jobsFinished?: FinishedCounter | undefined;
}

/**
 * The one owner of a job's status transitions: each writes through `@inferq/db` (every write is
 * conditional on the row, so a duplicated or late attempt never flips a final job), and only when
 * this call changed the row, counts it and announces it on the job events. Announcements are
 * best effort (the row is the truth; a lost event only delays a live view).
 *
 * ```
 * queued ──start──▶ running ──succeed──▶ succeeded
 *   │  ╲              │  ╲──fail──▶ failed ──requeueFailed──▶ queued
 *   │   expired       │  ╲──retryAttempt──▶ queued (not announced: the next start is)
 *   └──cancel──▶ canceled ◀──cancel──┘
 * ```
 *
 * Used by the API's `JobService` (queued, canceled, an operator's retry), the worker's job path
 * (`@inferq/pipeline`: running, expired, succeeded, failed) and the reconciler (failed, expired).
 */
export class JobLifecycle {
  readonly #options: JobLifecycleOptions;

  constructor(options: JobLifecycleOptions) {
    this.#options = options;
  }

  /**
   * Announces jobs just admitted, before they are enqueued: their rows were written by
   * `JobAdmission` in the admission's own transaction (quota, idempotency), and no worker can have
   * taken them yet, so no later event of theirs reaches a listener before this one. Announced after
   * the enqueue, a job a worker finished within milliseconds had its `queued` heard after its
   * `succeeded`: a wait for it then held until its timeout. Resolves once sent (best effort, never
   * rejects).
   */
  async queued(jobs: readonly JobRef[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.#options.events
      ?.publishMany(
        jobs.map((job) => ({ jobId: job.id, userId: job.userId, status: 'queued' as const, model: job.model })),
      )
      .catch(() => {});
  }

  /**
   * Moves jobs to `running` for an attempt each, in one statement that reads their inputs too
   * (see `JobExecution.startMany`). A job past its ttl that never started becomes `expired`
   * instead, in the same statement; it is counted and announced as such. Jobs gone or final are
   * missing from the answer.
   */
  async start(
    jobs: readonly JobRef[],
    workerId: string,
    now = new Date(),
    withoutInput: readonly string[] = [],
  ): Promise<Map<string, StartedJob>> {
    const started = await this.#options.execution.startMany(
      jobs.map((job) => job.id),
      workerId,
      now,
      withoutInput,
    );
    for (const job of jobs) {
      const row = started.get(job.id);
      if (!row) continue;
      if (row.expired) this.#finished({ ...job, userId: row.userId }, 'expired', 'EXPIRED');
      else this.#announce({ ...job, userId: row.userId }, 'running');
    }
    return started;
  }

  /**
   * Writes the results of jobs finishing together in one statement. Per job, null when the row
   * was final already (canceled, or finished by another attempt: the result is dropped); else
   * `announced`, which settles once the job's `beforeAnnounce` ran and `succeeded` went out.
   * The statement does not wait for those, so a slow result copy holds up its own job only.
   */
  async succeed(jobs: readonly SucceedingJob[], now = new Date()): Promise<Array<{ announced: Promise<void> } | null>> {
    const written = new Map(
      (await this.#options.execution.completeManyRecords([...jobs], now)).map((finished) => [
        finished.id,
        finished.record,
      ]),
    );
    return jobs.map((job) => {
      if (!written.has(job.id)) return null;
      // The finished row rides along with `succeeded`: a request waiting for it answers without a read.
      const record = written.get(job.id) ?? undefined;
      return { announced: this.#after(job.beforeAnnounce, () => this.#finished(job, 'succeeded', '', record)) };
    });
  }

  /** Fails a job for good unless it is final already; returns whether this call changed the row (then it is counted and announced). */
  async fail(job: JobRef, code: string, message: string): Promise<boolean> {
    const changed = await this.#options.execution.fail(job.id, code, message);
    if (changed) this.#finished(job, 'failed', code);
    return changed;
  }

  /**
   * Fails a job whose queued payload could not be read: no owner or model is known, so nothing
   * is announced (the row's next read shows it).
   */
  async failUnreadable(id: string, code: string, message: string): Promise<boolean> {
    return this.#options.execution.fail(id, code, message);
  }

  /**
   * An attempt failed and BullMQ will run another: the row goes back from `running` to `queued`
   * with the attempt's error. Not announced: the next attempt's start is.
   */
  async retryAttempt(id: string, code: string, message: string): Promise<void> {
    await this.#options.execution.recordRetry(id, code, message);
  }

  /**
   * Cancels a job that is not final yet; returns whether this call changed the row. When it did,
   * `beforeAnnounce` (taking the job out of its queue) runs before `canceled` is announced.
   */
  async cancel(job: JobRef, beforeAnnounce?: BeforeAnnounce): Promise<boolean> {
    const changed = await this.#options.execution.cancel(job.id);
    if (changed) await this.#after(beforeAnnounce, () => this.#announce(job, 'canceled'));
    return changed;
  }

  /**
   * An operator's retry: a failed job back to `queued`, then `enqueue`, then announced. Null when
   * the job was not failed (nothing changed). Should `enqueue` throw, the job is failed again with
   * the error it had (so it never looks queued without being in the queue), nothing is announced,
   * and the error is thrown.
   */
  async requeueFailed(
    job: JobRef & { errorCode: string | null; errorMessage: string | null },
    enqueue: BeforeAnnounce,
  ): Promise<JobRecord | null> {
    const { execution } = this.#options;
    const reset = await execution.resetForRetry(job.id);
    if (!reset) return null;
    try {
      await enqueue();
    } catch (error) {
      await execution.fail(job.id, job.errorCode ?? 'INTERNAL', job.errorMessage ?? '').catch(() => {});
      throw error;
    }
    this.#announce(job, 'queued');
    return reset;
  }

  /**
   * The ttl sweep: up to `limit` queued jobs past their ttl that never started become `expired`.
   * `beforeAnnounce` gets them first (their queue entries are removed), then each is counted and
   * announced.
   */
  async expireUnstarted(
    now: Date,
    limit: number,
    beforeAnnounce?: (jobs: JobRef[]) => Promise<unknown>,
  ): Promise<JobRef[]> {
    const { maintenance } = this.#options;
    if (!maintenance) throw new Error('JobLifecycle was built without maintenance: the ttl sweep is off');
    const jobs = (await maintenance.expireUnstarted(now, limit)).map((row) => ({
      id: row.id,
      userId: row.userId,
      model: row.modelName,
    }));
    await beforeAnnounce?.(jobs);
    for (const job of jobs) this.#finished(job, 'expired', 'EXPIRED');
    return jobs;
  }

  async #after(before: BeforeAnnounce | undefined, announce: () => void): Promise<void> {
    if (before) await before();
    announce();
  }

  #finished(job: JobRef, status: 'succeeded' | 'failed' | 'expired', code: string, record?: JobRecord): void {
    this.#options.jobsFinished?.inc({ model: job.model, status, code });
    this.#announce(job, status, record);
  }

  #announce(job: JobRef, status: JobStatus, record?: JobRecord): void {
    void this.#options.events?.publish({ jobId: job.id, userId: job.userId, status, model: job.model }, record);
  }
}
