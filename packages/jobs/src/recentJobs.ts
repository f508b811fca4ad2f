import { isFinalStatus, type JobStatus } from '@inferq/core';
import { jobRecordFromJson, type JobRecord } from '@inferq/db';
import type { JobEvent, JobEventSubscriber } from '@inferq/queue';

/** Rows already read back, by the message's parsed object: every listener of one event shares one. */
const rowsRead = new WeakMap<object, JobRecord | null>();

/**
 * The finished row a final event carries (`job` as JobEventSubscriber hands it over), read back
 * once per event however many listeners ask; null when the event is not final, carries none, or
 * carries a row that is not this job in this status.
 */
export function finishedRowOf(event: JobEvent, job: unknown): JobRecord | null {
  if (!isFinalStatus(event.status) || typeof job !== 'object' || job === null) return null;
  let record = rowsRead.get(job);
  if (record === undefined) {
    record = jobRecordFromJson(job);
    rowsRead.set(job, record);
  }
  return record?.id === event.jobId && record.status === event.status ? record : null;
}

export interface RecentJobsOptions {
  /** The process's job-event subscription, which keeps each entry's status current. */
  subscriber: JobEventSubscriber;
  /** Jobs kept, the oldest forgotten first. @defaultValue 4096 */
  maxEntries?: number;
  /** How long an entry is used after its job was admitted. @defaultValue 60000 */
  ttlMs?: number;
}

/** What the process knows of a job it admitted: the row as admitted, its status now, and its finished row once announced. */
export interface KnownJob {
  /** The row as admitted (status queued): the owner, the model, the input never change. */
  admitted: JobRecord;
  status: JobStatus;
  /** The finished row a final event carried; null until then, or when the event carried none. */
  finished: JobRecord | null;
}

interface Entry extends KnownJob {
  /** The subscription's unbroken stretch when the job was admitted (JobEventSubscriber.unbroken). */
  stretch: number;
  at: number;
}

/**
 * The jobs this API process admitted in the last minute, kept current by the job-event
 * subscription: a request waiting for one of them needs no read of its row to start waiting, and
 * none to answer when the final event carries the row. An entry is made before its job is
 * enqueued, so no event of the job can come before it; it is only used while the subscription has
 * heard every event since (no reconnect in between); else, as for a job another process admitted,
 * the row is read.
 */
export class RecentJobs {
  readonly #options: RecentJobsOptions;
  readonly #entries = new Map<string, Entry>();
  #unsubscribe: (() => void) | undefined;

  constructor(options: RecentJobsOptions) {
    this.#options = options;
  }

  /** Starts following the events (the subscriber's own start is the caller's). */
  start(): void {
    this.#unsubscribe ??= this.#options.subscriber.onAnyWithRow((event, job) => {
      const entry = this.#entries.get(event.jobId);
      if (!entry) return;
      entry.status = event.status;
      entry.finished = finishedRowOf(event, job);
    });
  }

  /** Jobs just written and about to be enqueued (before any event of theirs can come). */
  remember(jobs: readonly JobRecord[]): void {
    const stretch = this.#options.subscriber.unbroken;
    if (stretch === null || !this.#unsubscribe) return;
    const maxEntries = this.#options.maxEntries ?? 4096;
    const at = performance.now();
    for (const job of jobs) {
      this.#entries.delete(job.id);
      this.#entries.set(job.id, { admitted: job, status: job.status, finished: null, stretch, at });
    }
    for (const id of this.#entries.keys()) {
      if (this.#entries.size <= maxEntries) break;
      this.#entries.delete(id);
    }
  }

  /** What is known of a job, or null: not admitted here lately, or an event may have been missed since. */
  known(id: string): KnownJob | null {
    const entry = this.#entries.get(id);
    if (!entry) return null;
    if (
      entry.stretch !== this.#options.subscriber.unbroken ||
      performance.now() - entry.at > (this.#options.ttlMs ?? 60_000)
    ) {
      this.#entries.delete(id);
      return null;
    }
    return { admitted: entry.admitted, status: entry.status, finished: entry.finished };
  }

  /** Drops jobs that were deleted here (a deletion is not announced). */
  forget(ids: readonly string[]): void {
    for (const id of ids) this.#entries.delete(id);
  }

  /** Drops every job of a user (an account's erasure). */
  forgetUser(userId: string): void {
    for (const [id, entry] of this.#entries) if (entry.admitted.userId === userId) this.#entries.delete(id);
  }

  get size(): number {
    return this.#entries.size;
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#entries.clear();
  }
}
