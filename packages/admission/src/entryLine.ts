import { FairQueueRefusal } from './fairQueue.ts';
import { pruneIdleFlows } from './idleFlows.ts';

/**
 * The door of a fair queue: how many requests of one flow (a user) may be past it at once, doing
 * the work that comes before their turn in the queue (authentication, the rate limit, reading and
 * parsing the body). Past that bound a request waits at the door, unread, in its flow's own line,
 * and goes in when one of its flow's requests inside takes its turn or finishes.
 *
 * Why: a fair queue orders only what reaches it. On one event loop everything before it runs in
 * arrival order, so a user who sends 500 submissions at once has all 500 authenticated and their
 * bodies parsed before a request that arrives a moment later gets any of that work; under
 * `pnpm bench fairness` that was most of another user's wait. With the door, a flow never has
 * more than `perFlow` requests in that early work, whatever it sends, and another user's request
 * starts its own at once. One user alone loses nothing: a request goes in the moment the one
 * ahead of it takes its turn, which on an idle server is at once.
 *
 * Each flow's line is its own, so the door needs no fair dispatch: flows never wait for each
 * other here, only for their own requests ahead of them.
 *
 * What the bound meters is work, not waiting: a request inside for longer than `countMs` (a slow
 * upload still arriving, a body stalled on a mobile link) stops counting and lets the next of its
 * flow in. A user sending many slow uploads at once (a backend relaying its own clients') is then
 * held by the upload memory's fair queue, as before, and a user's fast requests go in at
 * `perFlow` per `countMs` at worst.
 */
export interface EntryLineOptions {
  /** Requests of one flow past the door at once. @defaultValue 8 */
  perFlow?: number;
  /** Requests of one flow waiting at the door at most; past it a request is refused at once. @defaultValue 768 */
  maxWaiting?: number;
  /**
   * Requests of all flows waiting at the door at most (each holds a socket and the start of its
   * body); past it a request is refused at once, as the process is busy for everyone.
   * @defaultValue 8192
   */
  maxWaitingTotal?: number;
  /** Longest a request waits at the door before it is refused; 0: never waits. @defaultValue 5000 */
  maxWaitMs?: number;
  /** How long a request inside counts against its flow's bound; then the next one goes in. @defaultValue 1000 */
  countMs?: number;
}

/** A request past the door: `release` once it has taken its turn (or is answered); calling it again does nothing. */
export interface EntryPass {
  /** Milliseconds it waited at the door (0 when it went in at once). */
  waitedMs: number;
  release(): void;
}

/** One flow at the door, for metrics and the operators' page. */
export interface EntryFlowUse {
  flow: string;
  /** Requests past the door now. */
  inside: number;
  /** Requests waiting at the door now. */
  waiting: number;
  /** Requests that had to wait at the door, since the process started. */
  queued: number;
  /** Requests refused at the door, since the process started. */
  refused: number;
}

interface Waiting {
  enqueuedAt: number;
  resolve(pass: EntryPass): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;
}

interface Flow {
  inside: number;
  line: Waiting[];
  queued: number;
  refused: number;
}

export class EntryLine {
  readonly perFlow: number;
  readonly maxWaiting: number;
  readonly maxWaitingTotal: number;
  readonly maxWaitMs: number;
  readonly countMs: number;
  readonly #flows = new Map<string, Flow>();
  #waiting = 0;

  constructor(options: EntryLineOptions = {}) {
    this.perFlow = options.perFlow ?? 8;
    this.maxWaiting = options.maxWaiting ?? 768;
    this.maxWaitingTotal = options.maxWaitingTotal ?? 8192;
    this.maxWaitMs = options.maxWaitMs ?? 5000;
    this.countMs = options.countMs ?? 1000;
    if (!Number.isSafeInteger(this.perFlow) || this.perFlow < 1)
      throw new RangeError('perFlow must be an integer >= 1');
    if (!Number.isSafeInteger(this.maxWaiting) || this.maxWaiting < 0)
      throw new RangeError('maxWaiting must be an integer >= 0');
    if (!Number.isSafeInteger(this.maxWaitingTotal) || this.maxWaitingTotal < 0)
      throw new RangeError('maxWaitingTotal must be an integer >= 0');
  }

  /** Requests waiting at the door now, of every flow. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Requests of `flow` past the door now. */
  insideOf(flow: string): number {
    return this.#flows.get(flow)?.inside ?? 0;
  }

  /** Whether a request of `flow` would be refused at once: its line is full. */
  wouldRefuse(flow: string): boolean {
    const state = this.#flows.get(flow);
    return state !== undefined && state.inside >= this.perFlow && state.line.length >= this.maxWaiting;
  }

  /**
   * Lets a request of `flow` in: at once while fewer than `perFlow` of its flow are inside, else
   * after its flow's requests ahead of it. Rejects with a {@link FairQueueRefusal}: scope `user`
   * when its flow's line is full or the wait would pass `maxWaitMs`, `global` when the door holds
   * `maxWaitingTotal` already; or with the signal's reason when aborted.
   */
  enter(flow: string, signal?: AbortSignal): Promise<EntryPass> {
    const state = this.#flow(flow);
    if (state.inside < this.perFlow && state.line.length === 0) return Promise.resolve(this.#pass(flow, state, 0));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.maxWaitMs <= 0 || state.line.length >= this.maxWaiting)
      return Promise.reject(this.#refuse(state, this.maxWaitMs <= 0 ? 'busy' : 'queue-full'));
    if (this.#waiting >= this.maxWaitingTotal) {
      state.refused++;
      return Promise.reject(new FairQueueRefusal('global', 'queue-full', this.#waiting, this.maxWaitingTotal));
    }
    return new Promise<EntryPass>((resolve, reject) => {
      const waiting: Waiting = {
        enqueuedAt: performance.now(),
        resolve,
        reject,
        timer: undefined,
        onAbort: undefined,
        signal,
      };
      waiting.timer = setTimeout(() => {
        if (this.#remove(state, waiting)) reject(this.#refuse(state, 'timeout'));
      }, this.maxWaitMs);
      if (signal) {
        waiting.onAbort = () => {
          if (this.#remove(state, waiting)) reject(signal.reason);
        };
        signal.addEventListener('abort', waiting.onAbort, { once: true });
      }
      state.line.push(waiting);
      state.queued++;
      this.#waiting++;
    });
  }

  /** Each flow inside, waiting, or refused or queued lately (the most recent 100 idle ones kept). */
  snapshot(): EntryFlowUse[] {
    return [...this.#flows].map(([flow, state]) => ({
      flow,
      inside: state.inside,
      waiting: state.line.length,
      queued: state.queued,
      refused: state.refused,
    }));
  }

  #flow(flow: string): Flow {
    let state = this.#flows.get(flow);
    if (!state) {
      state = { inside: 0, line: [], queued: 0, refused: 0 };
      this.#flows.set(flow, state);
      pruneIdleFlows(this.#flows, (idle) => idle.inside === 0 && idle.line.length === 0);
    }
    return state;
  }

  #pass(flow: string, state: Flow, waitedMs: number): EntryPass {
    state.inside++;
    let inside = true;
    const leave = () => {
      if (!inside) return;
      inside = false;
      clearTimeout(timer);
      state.inside--;
      const next = state.line.shift();
      if (!next) return;
      this.#waiting--;
      this.#settle(next);
      next.resolve(this.#pass(flow, state, performance.now() - next.enqueuedAt));
    };
    // Past countMs it is waiting, not working: its place goes to the next (a later release does nothing).
    const timer = setTimeout(leave, this.countMs);
    timer.unref();
    return { waitedMs, release: leave };
  }

  #remove(state: Flow, waiting: Waiting): boolean {
    const index = state.line.indexOf(waiting);
    if (index < 0) return false;
    state.line.splice(index, 1);
    this.#waiting--;
    this.#settle(waiting);
    return true;
  }

  #settle(waiting: Waiting): void {
    clearTimeout(waiting.timer);
    if (waiting.onAbort) waiting.signal?.removeEventListener('abort', waiting.onAbort);
  }

  #refuse(state: Flow, reason: FairQueueRefusal['reason']): FairQueueRefusal {
    state.refused++;
    return new FairQueueRefusal('user', reason, state.inside, this.perFlow);
  }
}
