import type { Logger } from 'pino';
import { decideFailedAttempt, errorCodes, transientErrorCodes, type AttemptError, type ErrorCode } from '@inferq/core';
import type { JobExecution, JobMaintenance, UnfinishedJob } from '@inferq/db';
import { JobLifecycle } from '@inferq/lifecycle';
import type { WorkerMetrics } from '@inferq/metrics';
import type { InferenceQueue, JobEventPublisher } from '@inferq/queue';
import { blobPrefixes, inputBlobKey, resultSinkKey, type BlobStore } from '@inferq/storage';
import type { HistoryRecorder } from './historyRecorder.ts';
import type { LeaderLock } from './leaderLock.ts';

export interface ReconcilerOptions {
  /** Fails jobs that cannot run again (through a `JobLifecycle`, which also counts and announces them). */
  execution: JobExecution;
  maintenance: JobMaintenance;
  /** Where inputs are kept outside Postgres: retention deletes a job's blob with its row. @defaultValue none */
  blobs?: BlobStore | undefined;
  /** Uploads (POST /v1/uploads) never submitted are deleted from `blobs` once this old. @defaultValue 24 h */
  uploadMaxAgeMs?: number;
  /** The producer side of the per-model inference queues (re-enqueues, state lookups, removals, the legacy queue's migration). */
  queue: InferenceQueue;
  /** Elects the one worker that runs passes; every worker runs the loop. */
  lock: LeaderLock;
  logger: Logger;
  /** Time between passes. @defaultValue 30000 */
  intervalMs?: number;
  /**
   * Jobs younger than this are left alone: the API writes the row before it enqueues, and a
   * 202 may be moments away. @defaultValue 30000
   */
  graceMs?: number;
  /**
   * An unfinished job older than this whose queue entry is gone is failed with JOB_LOST rather
   * than run again (its owner has long stopped waiting). @defaultValue 24 h
   */
  maxAgeMs?: number;
  /** Rows read per query. @defaultValue 500 */
  pageSize?: number;
  /** Expired jobs deleted per statement; a pass deletes at most 20 times this. @defaultValue 1000 */
  retentionBatchSize?: number;
  metrics?: WorkerMetrics;
  /** Where the jobs it fails or expires are announced. */
  events?: JobEventPublisher;
  /**
   * The models some live worker serves now (from the heartbeats). With `noWorkerTimeoutMs`, a
   * queued job whose model is not among them fails with NO_WORKER once it is that old.
   * Undefined (Redis could not say) fails nothing. @defaultValue none: no job is failed for want of a worker
   */
  servedModels?: () => Promise<ReadonlySet<string> | undefined>;
  /** How long a queued job may wait for a worker that serves its model. @defaultValue 0 (for ever) */
  noWorkerTimeoutMs?: number;
  /**
   * How often the leader looks for queued jobs past their ttl (one indexed statement), between
   * full passes; a worker that takes such a job expires it at once anyway. 0: only in full passes.
   * @defaultValue 5000
   */
  ttlSweepIntervalMs?: number;
  /**
   * The automatic rollback of traffic splits (`RolloutGuard` in `@inferq/rollout`): judged once a
   * pass; returns the rollbacks it made. @defaultValue none
   */
  rollout?: { checkAll(): Promise<unknown[]> };
  /** Writes the per-model history once a minute (duty 6). @defaultValue none: no history is kept */
  history?: HistoryRecorder | undefined;
}

export interface ReconcileReport {
  /** Unfinished jobs past the grace period whose queue entry was looked at. */
  checked: number;
  /** Jobs put back in the queue (entry missing or ended while the row was not final). */
  requeued: number;
  /** Jobs failed with JOB_LOST: entry missing and older than maxAgeMs. */
  failedLost: number;
  /** Rows failed because their queue entry had failed while the row was not final. */
  fixedFailed: number;
  /** Final jobs past `expires_at`, deleted with their inputs and results. */
  expiredDeleted: number;
  /** Jobs moved from the single queue of earlier versions to their model's queue. */
  migrated: number;
  /** Queued jobs failed with NO_WORKER: no live worker served their model within noWorkerTimeoutMs. */
  failedNoWorker: number;
  /** Queued jobs past their ttl that never started, moved to `expired` and out of their queue. */
  ttlExpired: number;
  /** Uploads never submitted, deleted from the blob store past uploadMaxAgeMs. */
  uploadsDeleted: number;
  /** Traffic splits put back on their baseline because a candidate broke a rule. */
  rolledBack: number;
}

/** BullMQ states in which a worker still holds or will pick up the job. */
const liveStates = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused']);

/**
 * Keeps Redis consistent with Postgres, where the job row is the source of truth, and applies
 * retention. Each pass:
 *
 * 1. Unfinished rows (queued/running) past the grace period whose BullMQ entry is missing (Redis
 *    restarted without persistence, or the enqueue was lost) are re-enqueued with job id = row id,
 *    so a pass racing another is a no-op; past `maxAgeMs` they are failed with JOB_LOST instead.
 * 2. Rows whose BullMQ entry is `failed` (the worker could not write the failure, e.g. Postgres
 *    was down, or it crashed more often than BullMQ reruns a job) are failed with the code the
 *    worker gave; a transient code is re-enqueued. Rows whose entry is `completed` but which are
 *    not final are re-enqueued. What each becomes is `decideFailedAttempt`'s answer
 *    (`@inferq/core`, `retrying.ts`), the same function the worker asks.
 * 3. Final jobs past `expires_at` are deleted with their input and result, and their BullMQ
 *    entries removed.
 * 4. Jobs still waiting in the single queue of earlier versions move to their model's queue.
 * 5. With `noWorkerTimeoutMs`, a queued job older than that whose model no live worker serves
 *    fails with NO_WORKER (until then it waits, and the job view says `waitingFor: "worker"`).
 * 6. Queued jobs past their ttl (`start_by`) that never started become `expired` and leave their
 *    queue, whether or not any worker serves their model; also every `ttlSweepIntervalMs`
 *    between passes, since a pass is far apart and this is one indexed statement.
 * 7. With `rollout`, each traffic split with rules is judged on its stored results, and one whose
 *    candidate broke a rule goes back to its baseline in this pass (recorded, announced).
 * 8. With `history`, once a minute, the per-model history (counts, queue waits, the oldest
 *    waiting job, workers) is written to Postgres and trimmed to its retention: one writer for
 *    all workers, because only the leader runs passes.
 *
 * Every worker runs the loop, but only the holder of a Redis lease does the work, so N workers
 * do not repeat each other's queries. It lives in the worker rather than a scheduler process of
 * its own: workers already hold both connections, and when no worker runs, no job can finish
 * anyway, so there is nothing to reconcile for.
 */
export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #lifecycle: JobLifecycle;
  #timer: NodeJS.Timeout | undefined;
  #ttlTimer: NodeJS.Timeout | undefined;
  #ttlSweep: Promise<number> | undefined;
  #pass: Promise<void> | undefined;
  #stopped = false;
  #leader = false;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#lifecycle = new JobLifecycle({
      execution: options.execution,
      maintenance: options.maintenance,
      events: options.events,
      jobsFinished: options.metrics?.jobsFinished,
    });
  }

  /** Whether this process held the lease at its last attempt. */
  get leader(): boolean {
    return this.#leader;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
    const ttlEvery = this.#options.ttlSweepIntervalMs ?? 5000;
    if (ttlEvery > 0) {
      // Only the leader sweeps; the others' ticks cost nothing.
      this.#ttlTimer = setInterval(() => {
        if (this.#leader && !this.#pass)
          void this.expireUnstarted().catch((error: unknown) =>
            this.#options.logger.warn({ err: error }, 'ttl sweep failed'),
          );
      }, ttlEvery);
      this.#ttlTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#ttlTimer);
    await this.#ttlSweep?.catch(() => 0);
    await this.#pass;
    if (this.#leader) await this.#options.lock.release();
    this.#setLeader(false);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#pass = this.#tick().finally(() => {
        this.#pass = undefined;
        this.#schedule(this.#options.intervalMs ?? 30_000);
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    const { lock, logger } = this.#options;
    this.#setLeader(await lock.acquire());
    if (!this.#leader) return;
    try {
      const report = await this.runOnce();
      const acted =
        report.requeued +
        report.failedLost +
        report.fixedFailed +
        report.expiredDeleted +
        report.ttlExpired +
        report.rolledBack;
      if (acted > 0) logger.info({ reconcile: report }, 'reconciliation pass repaired jobs');
      else logger.debug({ reconcile: report }, 'reconciliation pass');
    } catch (error) {
      // Postgres or Redis is down: the next pass tries again.
      logger.warn({ err: error }, 'reconciliation pass failed');
    }
  }

  #setLeader(leader: boolean): void {
    this.#leader = leader;
    this.#options.metrics?.reconcilerLeader.set(leader ? 1 : 0);
  }

  /** One pass over every unfinished job and the expired ones; also what tests call. */
  async runOnce(now = new Date()): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      checked: 0,
      requeued: 0,
      failedLost: 0,
      fixedFailed: 0,
      expiredDeleted: 0,
      migrated: 0,
      failedNoWorker: 0,
      ttlExpired: 0,
      uploadsDeleted: 0,
      rolledBack: 0,
    };
    const { maintenance, lock, queue } = this.#options;
    // First, so the pass below does not look at (or re-enqueue) jobs that are no longer worth running.
    report.ttlExpired = await this.expireUnstarted(now);
    report.migrated = await queue.migrateLegacy();
    if (report.migrated > 0) {
      this.#options.metrics?.reconcilerActions.inc({ action: 'migrated' }, report.migrated);
      this.#options.logger.info({ moved: report.migrated }, 'jobs moved from the single queue to their model queues');
    }
    const noWorkerMs = this.#options.noWorkerTimeoutMs ?? 0;
    const served = noWorkerMs > 0 && this.#options.servedModels ? await this.#options.servedModels() : undefined;
    const noWorkerBefore = now.getTime() - noWorkerMs;
    const pageSize = this.#options.pageSize ?? 500;
    const createdBefore = new Date(now.getTime() - (this.#options.graceMs ?? 30_000));
    let after: { createdAt: Date; id: string } | undefined;
    for (;;) {
      const page = await maintenance.listUnfinished({ createdBefore, after, limit: pageSize });
      // States in one burst of Redis calls; the few out-of-step rows are then handled one by one.
      const states = await Promise.all(page.map((job) => queue.state(job.id, job.modelName)));
      for (const [index, job] of page.entries()) {
        const state = states[index] ?? 'unknown';
        if (!liveStates.has(state)) await this.#reconcile(job, state, now, report);
        else if (
          served &&
          job.status === 'queued' &&
          !served.has(job.modelName) &&
          job.createdAt.getTime() <= noWorkerBefore &&
          state !== 'active'
        ) {
          await this.#failUnserved(job, report);
        }
      }
      report.checked += page.length;
      const last = page.at(-1);
      if (!last || page.length < pageSize || this.#stopped) break;
      after = { createdAt: last.createdAt, id: last.id };
      await lock.acquire(); // a long pass keeps its lease
    }
    report.expiredDeleted = await this.#deleteExpired(now);
    report.uploadsDeleted = await this.#deleteStaleUploads(now);
    if (this.#options.rollout) {
      report.rolledBack = (await this.#options.rollout.checkAll()).length;
      if (report.rolledBack > 0)
        this.#options.metrics?.reconcilerActions.inc({ action: 'rolled_back' }, report.rolledBack);
    }
    // A failed history write costs a minute of history, never the reconciliation.
    await this.#options.history
      ?.record(now)
      .catch((error: unknown) => this.#options.logger.warn({ err: error }, 'history write failed'));
    return report;
  }

  async #reconcile(job: UnfinishedJob, state: string, now: Date, report: ReconcileReport): Promise<void> {
    const { queue, maintenance } = this.#options;
    // The state was read after the row: re-read the row, since a worker writes the row before it
    // ends the BullMQ job, so a row still unfinished now really is out of step.
    const status = await maintenance.statusOf(job.id);
    if (status !== 'queued' && status !== 'running') return;
    const error: AttemptError =
      state === 'failed'
        ? failedEntryError((await queue.getJob(job.id, job.modelName))?.failedReason ?? '')
        : { kind: 'lost' };
    // The entry ended, so it has no attempt left: what is not final now is never BullMQ's to retry.
    const decision = decideFailedAttempt({
      error,
      attemptsMade: 1,
      attemptsAllowed: 1,
      ageMs: now.getTime() - job.createdAt.getTime(),
      maxAgeMs: this.#options.maxAgeMs ?? 24 * 3600 * 1000,
    });
    if (decision.action === 'fail') {
      if (await this.#fail(job, decision.code, decision.message)) {
        const action = state === 'failed' ? 'fixed_failed' : 'failed_lost';
        if (action === 'fixed_failed') report.fixedFailed++;
        else report.failedLost++;
        this.#options.metrics?.reconcilerActions.inc({ action });
      }
      return;
    }
    if (decision.action !== 'requeue') return; // retry and expire are not asked of an entry that ended

    // Missing, completed, or failed for a transient reason: run it again under the same id.
    if (state !== 'unknown') await queue.discard(job.id, job.modelName);
    await queue.enqueue(
      // A routed job stays on the version its split sent it to.
      {
        jobId: job.id,
        model: job.modelName,
        ...((job.requestedVersion ?? job.routedVersion)
          ? { modelVersion: (job.requestedVersion ?? job.routedVersion) as string }
          : {}),
      },
      job.priority !== null ? { priority: job.priority } : {},
    );
    report.requeued++;
    this.#options.metrics?.reconcilerActions.inc({ action: 'requeued' });
    this.#options.logger.info({ jobId: job.id, state, status }, 'job re-enqueued by reconciliation');
  }

  /** A queued job no live worker serves, past the deadline: out of its queue, then failed. */
  async #failUnserved(job: UnfinishedJob, report: ReconcileReport): Promise<void> {
    // A worker that started meanwhile may hold it: then it runs, and the row write below is a no-op.
    if (!(await this.#options.queue.remove(job.id, job.modelName))) return;
    const minutes = Math.round((this.#options.noWorkerTimeoutMs ?? 0) / 60_000);
    if (
      await this.#fail(
        job,
        'NO_WORKER',
        `No worker served the model ${job.modelName} within ${minutes >= 1 ? `${minutes} min` : `${this.#options.noWorkerTimeoutMs} ms`} of the submission.`,
      )
    ) {
      report.failedNoWorker++;
      this.#options.metrics?.reconcilerActions.inc({ action: 'failed_no_worker' });
    }
  }

  async #fail(job: UnfinishedJob, code: ErrorCode, message: string): Promise<boolean> {
    const changed = await this.#lifecycle.fail({ id: job.id, userId: job.userId, model: job.modelName }, code, message);
    if (changed) this.#options.logger.warn({ jobId: job.id, code }, 'job failed by reconciliation');
    return changed;
  }

  /**
   * Moves queued jobs past their ttl to `expired` (Postgres first, the row is the truth), then
   * takes their entries out of their queues (an entry a worker took meanwhile finds the row final
   * and is skipped) and announces them. Returns how many expired. Concurrent calls share one sweep.
   */
  expireUnstarted(now = new Date()): Promise<number> {
    this.#ttlSweep ??= this.#expireUnstarted(now).finally(() => (this.#ttlSweep = undefined));
    return this.#ttlSweep;
  }

  async #expireUnstarted(now: Date): Promise<number> {
    const { queue, metrics } = this.#options;
    let expired = 0;
    for (let round = 0; round < 20 && !this.#stopped; round++) {
      const jobs = await this.#lifecycle.expireUnstarted(now, 500, (jobs) =>
        Promise.all(jobs.map((job) => queue.discard(job.id, job.model).catch(() => 0))),
      );
      expired += jobs.length;
      if (jobs.length < 500) break;
    }
    if (expired > 0) {
      metrics?.reconcilerActions.inc({ action: 'ttl_expired' }, expired);
      this.#options.logger.info({ expired }, 'queued jobs past their ttl expired');
    }
    return expired;
  }

  /**
   * Uploads whose submit never came: an upload is deleted when its job is admitted, so what is
   * left under `uploads/` past the maximum age was abandoned. Up to 1000 a pass (the listing is
   * the cost; a bucket lifecycle rule on the prefix does the same without it).
   */
  async #deleteStaleUploads(now: Date): Promise<number> {
    const blobs = this.#options.blobs;
    if (!blobs) return 0;
    const before = now.getTime() - (this.#options.uploadMaxAgeMs ?? 24 * 3600_000);
    const keys = (await blobs.list(blobPrefixes.uploads)).slice(0, 1000);
    const stale: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(8, keys.length) }, async () => {
        for (let index = next++; index < keys.length; index = next++) {
          const info = await blobs.stat(keys[index]!);
          if (info && info.modifiedAt.getTime() < before) stale.push(keys[index]!);
        }
      }),
    );
    if (stale.length > 0) await blobs.delete(stale);
    return stale.length;
  }

  async #deleteExpired(now: Date): Promise<number> {
    const { maintenance, queue } = this.#options;
    const batchSize = this.#options.retentionBatchSize ?? 1000;
    let deleted = 0;
    for (let round = 0; round < 20 && !this.#stopped; round++) {
      const jobs = await maintenance.deleteExpired(now, batchSize);
      deleted += jobs.length;
      // The rows are gone: their blobs go now, by the keys their ids name. A store that fails
      // throws, and the pass is reported as failed (the bytes are left until an operator acts).
      await this.#options.blobs?.delete(
        jobs.flatMap((job) => [
          inputBlobKey(job.id),
          ...(job.resultPrefix ? [resultSinkKey(job.id, job.resultPrefix)] : []),
        ]),
      );
      // Most entries are gone already (removeOnComplete / removeOnFail); remove any left.
      await Promise.all(jobs.map((job) => queue.discard(job.id, job.modelName).catch(() => 0)));
      if (jobs.length < batchSize) break;
    }
    if (deleted > 0) this.#options.metrics?.reconcilerActions.inc({ action: 'expired_deleted' }, deleted);
    return deleted;
  }
}

/**
 * What a failed BullMQ entry's reason says of the attempt: the worker ends an entry with the
 * error code as its message (UnrecoverableError, or the last attempt's plain error); anything
 * else (BullMQ's own reasons, such as a job stalled past its limit) is `other`.
 */
function failedEntryError(reason: string): AttemptError {
  if (!(errorCodes as string[]).includes(reason)) return { kind: 'other', reason };
  const code = reason as ErrorCode;
  if (transientErrorCodes.has(code)) return { kind: 'databaseUnavailable', code };
  if (code === 'INTERNAL') return { kind: 'other', reason };
  return { kind: 'permanent', code, message: 'The job failed.' };
}
