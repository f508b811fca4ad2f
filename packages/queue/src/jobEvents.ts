import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { jobEventSchema, type JobEvent } from '@inferq/core';

/**
 * Job status changes (`JobEvent`, a wire schema of core: live streams send it as is), published
 * on a Redis channel after the row changed in Postgres, and appended to a capped Redis stream.
 * The channel answers waiting requests and the webhook dispatcher at once; delivery there is at
 * most once (pub/sub), so a listener that must not miss a final state re-reads the row once after
 * subscribing. The stream (JobEventLog) gives each event an ordered id and keeps it for the
 * retention window, so an event stream that reconnects with `Last-Event-ID` misses nothing.
 */
export { jobEventSchema, type JobEvent };

export function jobEventsChannel(prefix: string): string {
  return `${prefix}:job-events`;
}

/** The Redis stream that keeps recent job events (XADD ids are the events' ids). */
export function jobEventsStreamKey(prefix: string): string {
  return `${prefix}:job-events:log`;
}

export interface JobEventRetention {
  /** Events are kept at least this long (trimmed by MINID, approximately). @defaultValue 600000 (10 min) */
  retentionMs?: number | undefined;
  /** And at most about this many, whatever their age (MAXLEN ~), which bounds Redis memory. @defaultValue 100000 */
  maxLength?: number | undefined;
}

export const defaultEventRetentionMs = 10 * 60_000;
export const defaultEventMaxLength = 100_000;

/**
 * The largest finished row (as JSON) a final event carries on the channel. A classifier's is
 * about 1.5 kB; a tensor model's outputs can be megabytes, and every API process would receive
 * them: past this the waiters read the row instead.
 */
export const maxAnnouncedRecordBytes = 16 * 1024;

/**
 * A message of the channel: the event, and for a final one the job's row as the status write
 * returned it (`job`, JSON of a JobRecord), so that the requests waiting for it answer without
 * reading Postgres. The stream (live views) keeps the event alone.
 */
interface ChannelMessage extends JobEvent {
  job?: unknown;
}

export class JobEventPublisher {
  readonly #redis: Redis;
  readonly #channel: string;
  readonly #stream: string;
  readonly #retentionMs: number;
  readonly #maxLength: number;
  /** When the stream was last trimmed by age from here (at most once a second). */
  #trimmedAt = 0;
  /** Events published since the last flush (the channel's message, the stream's entry), sent together at the end of this turn of the event loop. */
  #pending: Array<{ message: string; entry: string }> = [];
  #flushed: Promise<void> | undefined;

  constructor(options: { connection: Redis; prefix?: string } & JobEventRetention) {
    this.#redis = options.connection;
    this.#channel = jobEventsChannel(options.prefix ?? 'inferq');
    this.#stream = jobEventsStreamKey(options.prefix ?? 'inferq');
    this.#retentionMs = options.retentionMs ?? defaultEventRetentionMs;
    this.#maxLength = options.maxLength ?? defaultEventMaxLength;
  }

  /**
   * Best effort: a lost event only delays a live view; the row stays the source of truth. Events
   * published in one turn of the event loop (a batch's jobs starting or finishing together) go to
   * Redis in one pipeline, a single socket write, in the order they were published.
   */
  publish(event: Omit<JobEvent, 'at'> & { at?: string }, job?: object): Promise<void> {
    const full: JobEvent = { ...event, at: event.at ?? new Date().toISOString() };
    const entry = JSON.stringify(full);
    let message = entry;
    if (job !== undefined) {
      const withJob = JSON.stringify({ ...full, job } satisfies ChannelMessage);
      if (Buffer.byteLength(withJob) <= maxAnnouncedRecordBytes) message = withJob;
    }
    this.#pending.push({ message, entry });
    this.#flushed ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#flush());
    return this.#flushed;
  }

  /** Publishes `events` in one pipeline, each stamped with the same time. */
  async publishMany(events: Array<Omit<JobEvent, 'at'>>): Promise<void> {
    if (events.length === 0) return;
    const at = new Date().toISOString();
    await Promise.all(events.map((event) => this.publish({ ...event, at })));
  }

  async #flush(): Promise<void> {
    const messages = this.#pending;
    this.#pending = [];
    this.#flushed = undefined;
    const pipeline = this.#redis.pipeline();
    for (const { message, entry } of messages) {
      pipeline.publish(this.#channel, message);
      // `~`: trimmed by whole macro nodes only, which keeps XADD O(1).
      pipeline.xadd(this.#stream, 'MAXLEN', '~', String(this.#maxLength), '*', 'e', entry);
    }
    const now = Date.now();
    if (now - this.#trimmedAt >= 1000) {
      this.#trimmedAt = now;
      pipeline.xtrim(this.#stream, 'MINID', '~', String(now - this.#retentionMs));
    }
    await pipeline.exec().catch(() => {});
  }
}

/**
 * One Redis subscription per process, fanned out in memory: by job id (waiting requests) and by
 * user id (event streams), so hundreds of waiters cost one connection and no Postgres reads.
 */
export class JobEventSubscriber {
  readonly #redis: Redis;
  readonly #channel: string;
  readonly #byJob = new EventEmitter();
  readonly #byUser = new EventEmitter();
  readonly #all = new EventEmitter();
  #started: Promise<void> | undefined;
  /** Whether the channel's subscription is confirmed and the connection has not closed since. */
  #live = false;
  /** Counts the connection's closes: an event published while it was closed is lost. */
  #epoch = 0;

  /** `connection` must be dedicated: a subscribed connection can run no other command. */
  constructor(options: { connection: Redis; prefix?: string }) {
    this.#redis = options.connection;
    this.#channel = jobEventsChannel(options.prefix ?? 'inferq');
    for (const emitter of [this.#byJob, this.#byUser, this.#all]) emitter.setMaxListeners(0);
  }

  /**
   * The subscription's unbroken stretch: a number that stays the same for as long as no event
   * can have been missed (the subscription is confirmed and the connection has not closed since),
   * or null while it is not. Two equal answers mean every event published in between was heard.
   */
  get unbroken(): number | null {
    return this.#live ? this.#epoch : null;
  }

  start(): Promise<void> {
    this.#started ??= (async () => {
      this.#redis.on('message', (channel: string, message: string) => {
        if (channel !== this.#channel) return;
        let event: JobEvent;
        let job: unknown;
        try {
          const parsed = JSON.parse(message) as ChannelMessage;
          job = parsed.job;
          // The schema's parse drops `job`: listeners by user and of every event get the event alone.
          event = jobEventSchema.parse(parsed);
        } catch {
          return;
        }
        this.#byJob.emit(event.jobId, event, job);
        if (event.userId) this.#byUser.emit(event.userId, event);
        this.#all.emit('event', event, job);
      });
      this.#redis.on('close', () => {
        this.#live = false;
        this.#epoch++;
      });
      // ioredis subscribes again after a reconnect; the confirmation of our own SUBSCRIBE (the
      // same channel twice is one subscription) says when events are heard again.
      this.#redis.on('ready', () => {
        const epoch = this.#epoch;
        this.#redis.subscribe(this.#channel).then(
          () => {
            if (epoch === this.#epoch) this.#live = true;
          },
          () => {},
        );
      });
      const epoch = this.#epoch;
      await this.#redis.subscribe(this.#channel);
      if (epoch === this.#epoch) this.#live = true;
    })();
    return this.#started;
  }

  onJob(jobId: string, listener: (event: JobEvent) => void): () => void {
    // The event alone: the channel's row is for onJobWithRow's listeners.
    const alone = (event: JobEvent) => listener(event);
    this.#byJob.on(jobId, alone);
    return () => this.#byJob.off(jobId, alone);
  }

  /**
   * onJob, with a final event's row as the publisher sent it (`job`: JSON of a JobRecord, see
   * {@link maxAnnouncedRecordBytes}); undefined when it sent none.
   */
  onJobWithRow(jobId: string, listener: (event: JobEvent, job: unknown) => void): () => void {
    this.#byJob.on(jobId, listener);
    return () => this.#byJob.off(jobId, listener);
  }

  onUser(userId: string, listener: (event: JobEvent) => void): () => void {
    this.#byUser.on(userId, listener);
    return () => this.#byUser.off(userId, listener);
  }

  onAny(listener: (event: JobEvent) => void): () => void {
    const alone = (event: JobEvent) => listener(event);
    this.#all.on('event', alone);
    return () => this.#all.off('event', alone);
  }

  /** onAny, with a final event's row as onJobWithRow gives it. */
  onAnyWithRow(listener: (event: JobEvent, job: unknown) => void): () => void {
    this.#all.on('event', listener);
    return () => this.#all.off('event', listener);
  }

  /** Number of in-process listeners (streams and waiters). */
  listenerCount(): number {
    return (
      this.#byJob.eventNames().reduce((sum, name) => sum + this.#byJob.listenerCount(name), 0) +
      this.#byUser.eventNames().reduce((sum, name) => sum + this.#byUser.listenerCount(name), 0) +
      this.#all.listenerCount('event')
    );
  }

  async close(): Promise<void> {
    this.#live = false;
    this.#epoch++;
    await this.#redis.unsubscribe(this.#channel).catch(() => {});
    this.#byJob.removeAllListeners();
    this.#byUser.removeAllListeners();
    this.#all.removeAllListeners();
  }
}
