import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { jobEventSchema, type JobEvent } from '@inferq/core';
import { jobEventsStreamKey } from './jobEvents.ts';

/** A job event as the log keeps it: its stream id (ordered: `<ms>-<seq>`) and the event. */
export interface LoggedJobEvent {
  id: string;
  event: JobEvent;
}

/** Listens to job events; `id` is the event's place in the log (absent for pub/sub events). */
export type JobEventListener = (event: JobEvent, id?: string) => void;

/** Live job events by job, by user, or all of them: what event streams and waiters listen to. */
export interface JobEventFeed {
  start(): Promise<void>;
  onJob(jobId: string, listener: JobEventListener): () => void;
  onUser(userId: string, listener: JobEventListener): () => void;
  onAny(listener: JobEventListener): () => void;
}

/** The kept past of the job events, for a stream that resumes after `Last-Event-ID`. */
export interface JobEventHistory {
  /** Up to `limit` events after `id` (exclusive), oldest first. */
  readAfter(id: string, limit: number): Promise<LoggedJobEvent[]>;
  /** The id of the oldest event still kept; null when none is. */
  oldestId(): Promise<string | null>;
}

/** `<ms>-<seq>`, as Redis writes stream ids. */
const streamIdPattern = /^([0-9]{1,16})-([0-9]{1,16})$/;

/** Whether `value` is a stream id (what a client sends back as Last-Event-ID). */
export function isEventId(value: string): boolean {
  return streamIdPattern.test(value);
}

/** Orders two stream ids: negative when `a` came first. */
export function compareEventIds(a: string, b: string): number {
  const [, aMs = '0', aSeq = '0'] = streamIdPattern.exec(a) ?? [];
  const [, bMs = '0', bSeq = '0'] = streamIdPattern.exec(b) ?? [];
  const ms = BigInt(aMs) - BigInt(bMs);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(aSeq) - BigInt(bSeq);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

type StreamEntries = Array<[id: string, fields: string[]]>;

function parseEntries(entries: StreamEntries): LoggedJobEvent[] {
  const events: LoggedJobEvent[] = [];
  for (const [id, fields] of entries) {
    const index = fields.indexOf('e');
    if (index < 0) continue;
    try {
      events.push({ id, event: jobEventSchema.parse(JSON.parse(fields[index + 1] ?? '')) });
    } catch {
      // Not an event of this version's shape: skipped, as the pub/sub subscriber does.
    }
  }
  return events;
}

export interface JobEventLogOptions {
  /** A dedicated connection: XREAD BLOCK holds it while it waits. */
  blocking: Redis;
  /** Any connection for the short reads of a resume (XRANGE); the producer's. */
  reads: Redis;
  /** @defaultValue "inferq" */
  prefix?: string;
  /** Longest one XREAD blocks (it is issued again at once). @defaultValue 5000 */
  blockMs?: number;
}

/**
 * The job events as a log: tails the Redis stream the publishers append to (one blocking XREAD
 * loop per process, fanned out in memory by job and user, as JobEventSubscriber does for the
 * channel) and reads its past for a stream that resumes. Every event it hands out carries its
 * stream id, so a resuming reader can tell exactly which live events its replay already covered.
 *
 * The tail runs only while someone listens: once a read comes back with no listener left, it
 * stops, and the next start() begins again from the stream's end then. Idle, an API process
 * would otherwise read every event of every job (two or three a job) for nobody.
 */
export class JobEventLog implements JobEventFeed, JobEventHistory {
  readonly #options: JobEventLogOptions;
  readonly #key: string;
  readonly #byJob = new EventEmitter();
  readonly #byUser = new EventEmitter();
  readonly #all = new EventEmitter();
  #started: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;
  /** The last id read by the tail: the next XREAD continues after it. */
  #cursor = '$';

  constructor(options: JobEventLogOptions) {
    this.#options = options;
    this.#key = jobEventsStreamKey(options.prefix ?? 'inferq');
    for (const emitter of [this.#byJob, this.#byUser, this.#all]) emitter.setMaxListeners(0);
  }

  /**
   * Starts the tail from the stream's end now (resolves once that end is known), unless it is
   * running. Add the listeners right after it resolves: a tail that reads with none stops.
   */
  start(): Promise<void> {
    this.#started ??= (async () => {
      const [last] = (await this.#options.reads.xrevrange(this.#key, '+', '-', 'COUNT', 1)) as StreamEntries;
      this.#cursor = last?.[0] ?? '0-0';
      this.#loop = this.#tail();
    })();
    // A failed start (Redis down) is tried again by the next caller.
    this.#started.catch(() => (this.#started = undefined));
    return this.#started;
  }

  /** Whether any listener is registered, by job, by user or for all events. */
  #listened(): boolean {
    return (
      this.#byJob.eventNames().length > 0 ||
      this.#byUser.eventNames().length > 0 ||
      this.#all.listenerCount('event') > 0
    );
  }

  async #tail(): Promise<void> {
    const { blocking } = this.#options;
    while (!this.#closed) {
      let answer: Array<[string, StreamEntries]> | null;
      try {
        answer = (await blocking.xread(
          'COUNT',
          1000,
          'BLOCK',
          this.#options.blockMs ?? 5000,
          'STREAMS',
          this.#key,
          this.#cursor,
        )) as Array<[string, StreamEntries]> | null;
      } catch {
        if (this.#closed) return;
        if (!this.#listened()) return this.#stop();
        // Redis away: the consumer connection reconnects; go on from the same id once it is back.
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      for (const [, entries] of answer ?? []) {
        const last = entries.at(-1);
        if (last) this.#cursor = last[0];
        for (const { id, event } of parseEntries(entries)) {
          this.#byJob.emit(event.jobId, event, id);
          if (event.userId) this.#byUser.emit(event.userId, event, id);
          this.#all.emit('event', event, id);
        }
      }
      if (!this.#listened()) return this.#stop();
    }
  }

  /** Ends the tail with no listener left; the next start() anchors at the stream's end again. */
  #stop(): void {
    this.#started = undefined;
  }

  onJob(jobId: string, listener: JobEventListener): () => void {
    this.#byJob.on(jobId, listener);
    return () => this.#byJob.off(jobId, listener);
  }

  onUser(userId: string, listener: JobEventListener): () => void {
    this.#byUser.on(userId, listener);
    return () => this.#byUser.off(userId, listener);
  }

  onAny(listener: JobEventListener): () => void {
    this.#all.on('event', listener);
    return () => this.#all.off('event', listener);
  }

  async readAfter(id: string, limit: number): Promise<LoggedJobEvent[]> {
    // `(`: exclusive start (Redis 6.2+).
    return parseEntries((await this.#options.reads.xrange(this.#key, `(${id}`, '+', 'COUNT', limit)) as StreamEntries);
  }

  async oldestId(): Promise<string | null> {
    const [first] = (await this.#options.reads.xrange(this.#key, '-', '+', 'COUNT', 1)) as StreamEntries;
    return first?.[0] ?? null;
  }

  /** Stops the tail; the blocking connection is the caller's to close (its XREAD ends when it does). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#byJob.removeAllListeners();
    this.#byUser.removeAllListeners();
    this.#all.removeAllListeners();
  }

  /** Resolves once the tail loop has ended (after close() and the blocking connection's end). */
  async stopped(): Promise<void> {
    await this.#loop;
  }
}
