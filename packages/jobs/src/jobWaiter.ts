import DataLoader from 'dataloader';
import { isFinalStatus } from '@inferq/core';
import type { JobRecord } from '@inferq/db';
import type { JobEventSubscriber } from '@inferq/queue';
import { finishedRowOf, type RecentJobs } from './recentJobs.ts';

export interface JobWaiterOptions {
  /** The process's one job-event subscription (a dedicated Redis connection). */
  subscriber: JobEventSubscriber;
  /**
   * Reads job rows by id, in the order given, null where a row is gone. The reads asked for in
   * one tick go in one call: the waiters that a batch's final events wake together cost one query.
   */
  read: (ids: readonly string[]) => Promise<Array<JobRecord | null>>;
  /**
   * The jobs this process admitted lately, kept current by the same subscription: waiting for
   * one of them starts without a read of its row. @defaultValue none: every wait reads first
   */
  recent?: RecentJobs | undefined;
}

export interface WaitOptions {
  timeoutMs: number;
  /** Aborts the wait (the client went away): resolves with `null` and reads nothing more. */
  signal?: AbortSignal | undefined;
  /** Whether the caller may see this job (ownership); a refused job ends the wait at once. */
  accept?: (job: JobRecord) => boolean;
}

export interface WaitOutcome {
  /** The job as last read; null when it does not exist or the wait was aborted. */
  job: JobRecord | null;
  /** How the wait ended. */
  reason: 'final' | 'timeout' | 'aborted' | 'refused' | 'closing';
}

type WakeReason = 'event' | 'timeout' | 'aborted' | 'closing';

/**
 * Holds requests until their job is final, without polling: a waiter listens on the process's
 * job-event subscription, reads the row once after subscribing (so a final state reached before
 * the subscription is not missed), and once more when a final event arrives, unless the event
 * carries the finished row (a worker's `succeeded` does: the row its write returned). Concurrent
 * reads of the same job share one query, reads of different jobs asked for together go in one
 * statement, and a wait costs no reads at all while nothing happens.
 */
export class JobWaiter {
  readonly #options: JobWaiterOptions;
  readonly #loader: DataLoader<string, JobRecord | null>;
  readonly #reads = new Map<string, Promise<JobRecord | null>>();
  readonly #waking = new Set<(reason: WakeReason) => void>();
  #closing = false;

  constructor(options: JobWaiterOptions) {
    this.#options = options;
    // No cache: a row read once is stale by the next event; #reads shares the reads in flight.
    this.#loader = new DataLoader((ids) => options.read(ids), { cache: false });
  }

  /** Waits in progress. */
  get size(): number {
    return this.#waking.size;
  }

  /** One row read, shared by every caller asking for the same job at the same moment. */
  read(id: string): Promise<JobRecord | null> {
    let pending = this.#reads.get(id);
    if (!pending) {
      pending = this.#loader.load(id).finally(() => this.#reads.delete(id));
      this.#reads.set(id, pending);
    }
    return pending;
  }

  async wait(id: string, options: WaitOptions): Promise<WaitOutcome> {
    if (options.signal?.aborted) return { job: null, reason: 'aborted' };
    let wake!: (reason: WakeReason) => void;
    const woken = new Promise<WakeReason>((resolve) => (wake = resolve));
    let changed = false;
    /** The finished row a final event carried, if it did. */
    let announced: JobRecord | null = null;
    // Subscribe before the first read: an event published in between is still seen.
    const unsubscribe = this.#options.subscriber.onJobWithRow(id, (event, job) => {
      changed = true;
      if (!isFinalStatus(event.status)) return;
      announced = finishedRowOf(event, job);
      wake('event');
    });
    const timer = setTimeout(() => wake('timeout'), options.timeoutMs);
    const onAbort = () => wake('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.#waking.add(wake);
    if (this.#closing) wake('closing');
    try {
      // A job admitted here lately is known as it is now (the subscription heard all its events);
      // any other is read once the listener is on, so a final state reached before is not missed.
      const known = this.#options.recent?.known(id);
      if (known?.finished) {
        if (options.accept && !options.accept(known.finished)) return { job: known.finished, reason: 'refused' };
        return { job: known.finished, reason: 'final' };
      }
      const skipped = known !== null && known !== undefined && !isFinalStatus(known.status);
      const first = skipped ? known.admitted : await this.read(id);
      if (!first) return { job: null, reason: 'refused' };
      if (options.accept && !options.accept(first)) return { job: first, reason: 'refused' };
      if (isFinalStatus(first.status)) return { job: first, reason: 'final' };
      const reason = await woken;
      if (reason === 'aborted') return { job: null, reason };
      // Nothing was announced: the row is as first read, so it needs no second read (a row as
      // admitted is older than that: read).
      if (reason !== 'event' && !changed && !skipped) return { job: first, reason };
      // The owner was checked on the first read; the announced row is the same job's.
      if (reason === 'event' && announced !== null) return { job: announced, reason: 'final' };
      const latest = await this.read(id);
      // Gone since it was admitted here (deleted by another process): as a missing job.
      if (!latest && skipped) return { job: null, reason: 'refused' };
      const job = latest ?? first;
      return { job, reason: isFinalStatus(job.status) ? 'final' : reason === 'event' ? 'timeout' : reason };
    } finally {
      clearTimeout(timer);
      unsubscribe();
      options.signal?.removeEventListener('abort', onAbort);
      this.#waking.delete(wake);
    }
  }

  /** Ends every wait now (each answers with the job's current state); new waits end at once. */
  close(): void {
    this.#closing = true;
    for (const wake of this.#waking) wake('closing');
  }
}
