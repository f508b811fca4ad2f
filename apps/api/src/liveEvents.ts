import type { Principal } from '@inferq/accounts';
import { FairQueue, shareRefusal } from '@inferq/admission';
import { AppError, isFinalStatus, type JobEvent, type QueueSnapshot } from '@inferq/core';
import { compareEventIds, isEventId, type JobEventFeed, type JobEventHistory } from '@inferq/queue';

/** One open event stream, as the hub sees it: somewhere to write, and a way to end it. */
export interface LiveStream {
  principal: Principal;
  /** Writes one chunk of the text/event-stream body; returns the bytes still buffered for it. */
  write(chunk: string): number;
  end(): void;
}

export interface LiveEventsOptions {
  /**
   * The process's one live job-event feed (a dedicated Redis connection): the event log's tail,
   * whose events carry ids, or the pub/sub subscription (no ids: streams cannot resume).
   */
  subscriber: JobEventFeed;
  /**
   * The kept past of the events (the log), read when a stream opens with `Last-Event-ID`.
   * @defaultValue none: a reconnecting stream starts from now (and re-reads on `ready`)
   */
  history?: JobEventHistory | undefined;
  /** The queue as an operator sees it; polled once per interval for all admin streams together. */
  snapshot: () => Promise<QueueSnapshot>;
  /** A comment line every so often keeps proxies from closing idle streams. @defaultValue 15000 */
  heartbeatMs?: number;
  /** How often admin streams get a queue snapshot. @defaultValue 2000 */
  snapshotMs?: number;
  /** Open streams per process; past it, new ones get 503 TOO_MANY_STREAMS. @defaultValue 2000 */
  maxStreams?: number;
  /**
   * Open streams one user may hold in this process; past it, their new ones get 429
   * CONCURRENCY_LIMITED, so one key cannot take every stream. @defaultValue 50, at most maxStreams
   */
  maxStreamsPerUser?: number;
  /** A client this far behind (bytes buffered) is dropped; it reconnects and re-reads. @defaultValue 1 MiB */
  maxBufferedBytes?: number;
  /** Told when a snapshot fails (Redis down); streams keep running. */
  onSnapshotError?: (error: unknown) => void;
}

/** Formats one server-sent event. `data` is JSON on a single line, so no field splitting is needed. */
export function formatEvent(event: string, data: unknown, id?: string): string {
  return `${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** What a stream is opened for. */
export interface OpenStreamOptions {
  /** The `Last-Event-ID` the client sent: events after it are replayed first. */
  lastEventId?: string | undefined;
  /** Only this job's events (`GET /v1/jobs/:id/events`; the caller owns it). */
  jobId?: string | undefined;
  /**
   * Per job: whether it is final now, asked once the stream is live. A final job's stream sends
   * `end` and closes (after its final event, or at once when that was before the stream).
   */
  isFinal?: (() => Promise<boolean>) | undefined;
}

/** Events replayed per read of the history. */
const replayPage = 500;

/**
 * Fans job events and queue snapshots out to open event streams. Everything is shared: one Redis
 * subscription for the process (in-memory routing by user id), one heartbeat timer and one
 * snapshot poll for all streams, so an open stream costs a socket and a listener, and never a
 * Redis connection or a Postgres query of its own.
 */
export class LiveEvents {
  readonly #options: LiveEventsOptions;
  readonly #streams = new Map<LiveStream, () => void>();
  readonly #shares: FairQueue;
  readonly #admins = new Set<LiveStream>();
  #heartbeat: NodeJS.Timeout | undefined;
  #snapshotTimer: NodeJS.Timeout | undefined;
  #lastSnapshot: string | undefined;
  #snapshotRunning = false;

  constructor(options: LiveEventsOptions) {
    this.#options = options;
    const capacity = options.maxStreams ?? 2000;
    // A stream is held for hours: a turn in a queue would come too late to be fair, so a stream
    // never waits, and one user holds at most maxStreamsPerUser of them.
    this.#shares = new FairQueue({
      capacity,
      maxPerFlow: Math.min(capacity, options.maxStreamsPerUser ?? 50),
      maxWaitMs: 0,
    });
  }

  get size(): number {
    return this.#streams.size;
  }

  /**
   * Throws TOO_MANY_STREAMS when this process holds as many streams as it takes, and
   * CONCURRENCY_LIMITED when `principal` holds their whole share of them.
   */
  assertCapacity(principal?: Principal): void {
    if (this.#shares.inUse >= this.#shares.capacity) throw tooManyStreams();
    if (principal && this.#shares.wouldRefuse(principal.userId)) {
      const refusal = this.#shares.tryAcquire(principal.userId);
      if (!('release' in refusal)) throw shareRefusal('streams', refusal, 5);
      refusal.release();
    }
  }

  /** The streams' use now, per user: for /metrics and the operators' page. */
  snapshot() {
    return this.#shares.snapshot();
  }

  /**
   * Starts sending to a stream: the user's own job events, or every job event plus queue
   * snapshots for an admin. Returns the function that detaches it (call it when the socket closes).
   */
  async open(stream: LiveStream, options: OpenStreamOptions = {}): Promise<() => void> {
    const { subscriber, history } = this.#options;
    const lease = this.#shares.tryAcquire(stream.principal.userId);
    if (!('release' in lease))
      throw lease.reason === 'flow-limit' ? shareRefusal('streams', lease, 5) : tooManyStreams();
    try {
      await subscriber.start();
    } catch (error) {
      lease.release();
      throw error;
    }
    const { jobId } = options;
    const isAdmin = stream.principal.role === 'admin' && jobId === undefined;
    // A Last-Event-ID that is not one of ours (another server's, garbage) is ignored: a fresh start.
    const resumeFrom =
      history && options.lastEventId !== undefined && isEventId(options.lastEventId) ? options.lastEventId : undefined;
    // While the history is replayed, live events wait here; then those the replay covered (by id) are dropped.
    let replaying: Array<[JobEvent, string | undefined]> | undefined = resumeFrom === undefined ? undefined : [];
    let lastSent = resumeFrom;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#write(stream, formatEvent('end', { jobId }));
      this.#streams.get(stream)?.();
      stream.end();
    };
    /** Writes one job event; a job's own stream ends after its final one. */
    const deliver = (event: JobEvent, id: string | undefined) => {
      if (ended) return;
      this.#write(stream, formatEvent('job', event, id));
      if (jobId !== undefined && isFinalStatus(event.status)) end();
    };
    const send = (event: JobEvent, id?: string) => {
      if (ended) return;
      if (replaying) {
        replaying.push([event, id]);
        return;
      }
      if (id !== undefined && lastSent !== undefined && compareEventIds(id, lastSent) <= 0) return;
      if (id !== undefined) lastSent = id;
      deliver(event, id);
    };
    const off =
      jobId !== undefined
        ? subscriber.onJob(jobId, send)
        : isAdmin
          ? subscriber.onAny(send)
          : subscriber.onUser(stream.principal.userId, send);
    const detach = () => {
      if (!this.#streams.has(stream)) return;
      off();
      lease.release();
      this.#streams.delete(stream);
      this.#admins.delete(stream);
      this.#schedule();
    };
    this.#streams.set(stream, detach);
    if (isAdmin) this.#admins.add(stream);
    // `resumed`: the events since Last-Event-ID follow. Otherwise the client re-reads what it
    // shows on `ready`: events published while it was away are not sent.
    this.#write(
      stream,
      `retry: 3000\n${formatEvent('ready', { role: stream.principal.role, resumed: resumeFrom !== undefined })}`,
    );
    if (isAdmin && this.#lastSnapshot) this.#write(stream, this.#lastSnapshot);
    this.#schedule();
    if (isAdmin) void this.#pollSnapshot();
    if (resumeFrom !== undefined && history) {
      const keep = (event: JobEvent) =>
        jobId !== undefined ? event.jobId === jobId : isAdmin || event.userId === stream.principal.userId;
      await this.#replay(stream, history, resumeFrom, keep, deliver, (id) => (lastSent = id));
      const waiting = replaying ?? [];
      replaying = undefined;
      for (const [event, id] of waiting) send(event, id);
    }
    if (jobId !== undefined && !ended && options.isFinal && (await options.isFinal().catch(() => false))) {
      // Final before (or while) the stream opened: its final event, on its way through the tail, gets a moment to arrive first.
      setTimeout(end, 1000).unref();
    }
    return detach;
  }

  /**
   * Delivers the kept events after `from` that `keep` selects, oldest first, each with its id, and
   * reports the last id read (selected or not) through `reached`, so live events the replay
   * covered are dropped. When `from` is older than the oldest event kept, some may be gone: a
   * `reset` event says so first, and the client re-reads its jobs.
   */
  async #replay(
    stream: LiveStream,
    history: JobEventHistory,
    from: string,
    keep: (event: JobEvent) => boolean,
    deliver: (event: JobEvent, id: string) => void,
    reached: (id: string) => void,
  ): Promise<void> {
    try {
      const oldest = await history.oldestId();
      if (oldest === null || compareEventIds(oldest, from) > 0)
        this.#write(stream, formatEvent('reset', { reason: 'retention', lastEventId: from }));
      let cursor = from;
      for (;;) {
        const page = await history.readAfter(cursor, replayPage);
        for (const { id, event } of page) {
          if (keep(event)) deliver(event, id);
          cursor = id;
        }
        reached(cursor);
        if (page.length < replayPage || !this.#streams.has(stream)) break;
      }
    } catch {
      // The log cannot be read (Redis away): the client is told to re-read instead.
      this.#write(stream, formatEvent('reset', { reason: 'unavailable', lastEventId: from }));
    }
  }

  #write(stream: LiveStream, chunk: string): void {
    const buffered = stream.write(chunk);
    if (buffered > (this.#options.maxBufferedBytes ?? 1024 * 1024)) {
      this.#streams.get(stream)?.();
      stream.end();
    }
  }

  /** Runs the shared timers only while someone listens. */
  #schedule(): void {
    if (this.#streams.size > 0 && !this.#heartbeat) {
      this.#heartbeat = setInterval(() => {
        for (const stream of this.#streams.keys()) this.#write(stream, ': ping\n\n');
      }, this.#options.heartbeatMs ?? 15_000);
      this.#heartbeat.unref();
    } else if (this.#streams.size === 0 && this.#heartbeat) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
    if (this.#admins.size > 0 && !this.#snapshotTimer) {
      this.#snapshotTimer = setInterval(() => void this.#pollSnapshot(), this.#options.snapshotMs ?? 2000);
      this.#snapshotTimer.unref();
    } else if (this.#admins.size === 0 && this.#snapshotTimer) {
      clearInterval(this.#snapshotTimer);
      this.#snapshotTimer = undefined;
      this.#lastSnapshot = undefined;
    }
  }

  async #pollSnapshot(): Promise<void> {
    if (this.#snapshotRunning || this.#admins.size === 0) return;
    this.#snapshotRunning = true;
    try {
      const chunk = formatEvent('queue', await this.#options.snapshot());
      this.#lastSnapshot = chunk;
      for (const stream of this.#admins) this.#write(stream, chunk);
    } catch (error) {
      this.#options.onSnapshotError?.(error);
    } finally {
      this.#snapshotRunning = false;
    }
  }

  /** Ends every stream (shutdown), so the HTTP server can close without waiting for them. */
  closeAll(): void {
    for (const [stream, detach] of [...this.#streams]) {
      detach();
      stream.end();
    }
  }
}

function tooManyStreams(): AppError {
  return new AppError('TOO_MANY_STREAMS', 'Too many live streams are open on this server; try again shortly.', {
    retryAfterSeconds: 5,
  });
}
