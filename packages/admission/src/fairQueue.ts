import { AppError } from '@inferq/core';
import { pruneIdleFlows } from './idleFlows.ts';

/**
 * Fair queuing of one resource of a process (submit slots, buffered upload bytes, decode pixels,
 * event streams) between users, after Kubernetes' API Priority and Fairness (KEP-1040):
 *
 * 1. **Work-conserving.** `capacity` units in all. While nobody waits, a request that fits is
 *    granted at once, whoever sends it: one user alone can use the whole process.
 * 2. **A queue per flow, shuffle-sharded.** Under contention a request waits in one of `queues`
 *    FIFO queues: the shortest of its flow's *hand* of `handSize` queues, dealt from the flow's id
 *    (a user). Two flows share a whole hand with odds of about 1 in C(queues, handSize) (1 in
 *    75 million by default), so one user's flood fills only its own queues.
 * 3. **Fair dispatch.** Whenever units free up, they go to the waiting flow that holds the least
 *    for its weight now (units held ÷ weight), so the flows that contend converge on holding equal
 *    weighted shares, as under processor sharing, and a flow that arrives behind a flood takes the
 *    units that free up until it holds its share, instead of every other one. Among flows that
 *    hold as much, the request with the smallest virtual start time goes next (start-time fair
 *    queuing): each queue advances by what it was granted divided by its request's weight, so
 *    turns are equal, weighted by tier, in units (bytes or pixels), not in requests.
 * 4. **Bounded waits.** A request waits at most `maxWaitMs`, and a queue holds at most
 *    `queueLengthLimit` requests; then it is refused politely: `user` (429) when granting it would
 *    take its flow past its fair share (its own requests are what it waits for), else `global`
 *    (503: the process is busy for everyone).
 *
 * APF's priority levels, each with seats that idle levels lend to busy ones, become one level
 * per resource here, with the tiers' weights inside it: every request to the resource is of one
 * kind, so all its seats are always lendable, and the weights give pro users a larger turn.
 *
 * One request larger than the whole capacity (a 40 MP image against a 30 MP budget) is granted
 * when nothing at all is held: it may then run alone, rather than never.
 */
export interface FairQueueOptions {
  /** Units the process has in all. */
  capacity: number;
  /** Queues requests wait in. @defaultValue 64 */
  queues?: number;
  /** Queues dealt to each flow; a request joins the shortest of them. @defaultValue 6 */
  handSize?: number;
  /** Requests one queue holds at most; past it a request is refused at once. @defaultValue 128 */
  queueLengthLimit?: number;
  /** Longest a request waits for its turn before it is refused; 0: never waits. @defaultValue 5000 */
  maxWaitMs?: number;
  /**
   * Units one flow may hold at once, whatever is free: for resources held for hours (event
   * streams), where a turn would come too late to be fair. @defaultValue none
   */
  maxPerFlow?: number;
}

/** A granted request: call `release` once the units are no longer held (calling it again does nothing). */
export interface FairQueueLease {
  amount: number;
  /** Milliseconds the request waited for its turn (0 when granted at once). */
  waitedMs: number;
  release(): void;
}

/** Why a request was refused: `user` when its flow holds (or waits for) at least its fair share, else `global`. */
export class FairQueueRefusal extends Error {
  readonly scope: 'user' | 'global';
  /** `timeout`: waited `maxWaitMs`; `queue-full`: its queue was full; `flow-limit`: at `maxPerFlow`; `busy`: no room and no waiting allowed. */
  readonly reason: 'timeout' | 'queue-full' | 'flow-limit' | 'busy';
  /** Units the flow (`user`) or everyone (`global`) holds now. */
  readonly inUse: number;
  /** The flow's fair share now (`user`) or the capacity (`global`). */
  readonly limit: number;
  constructor(scope: 'user' | 'global', reason: FairQueueRefusal['reason'], inUse: number, limit: number) {
    super(`refused (${scope}, ${reason})`);
    this.scope = scope;
    this.reason = reason;
    this.inUse = inUse;
    this.limit = limit;
  }
}

export interface AcquireOptions {
  /** The flow's weight (its tier's): under contention its turn grows in proportion. @defaultValue 1 */
  weight?: number;
  /** Gives up waiting when aborted (the client went away); the promise rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/** One flow's use of the resource, for metrics and the operators' page. */
export interface FlowUse {
  flow: string;
  /** Units held now. */
  held: number;
  /** Requests waiting now. */
  waiting: number;
  /** Requests that had to wait for their turn, since the process started. */
  queued: number;
  /** Requests refused, since the process started. */
  refused: number;
}

export interface FairQueueSnapshot {
  capacity: number;
  inUse: number;
  waiting: number;
  /** Flows holding or waiting now, or refused or queued lately (the most recent 100 kept). */
  flows: FlowUse[];
}

interface Waiter {
  flow: string;
  amount: number;
  weight: number;
  start: number;
  finish: number;
  /** Arrival order: ties of start time go to the earlier request (FIFO within a flow's hand). */
  seq: number;
  enqueuedAt: number;
  resolve(lease: FairQueueLease): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout | undefined;
  queue: number;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;
}

interface FlowState {
  held: number;
  waiting: number;
  queued: number;
  refused: number;
  weight: number;
}

export class FairQueue {
  readonly capacity: number;
  readonly queueCount: number;
  readonly handSize: number;
  readonly queueLengthLimit: number;
  readonly maxWaitMs: number;
  readonly maxPerFlow: number | undefined;
  #inUse = 0;
  #waiting = 0;
  #seq = 0;
  /** Virtual time: the start tag of the request dispatched last. */
  #virtual = 0;
  readonly #queues: Waiter[][];
  /** Per queue, the finish tag of the last request put in it. */
  readonly #lastFinish: number[];
  readonly #flows = new Map<string, FlowState>();
  readonly #hands = new Map<string, number[]>();

  constructor(options: FairQueueOptions) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1)
      throw new RangeError('capacity must be an integer >= 1');
    this.capacity = options.capacity;
    this.queueCount = options.queues ?? 64;
    this.handSize = Math.min(options.handSize ?? 6, this.queueCount);
    this.queueLengthLimit = options.queueLengthLimit ?? 128;
    this.maxWaitMs = options.maxWaitMs ?? 5000;
    this.maxPerFlow = options.maxPerFlow;
    if (!Number.isSafeInteger(this.queueCount) || this.queueCount < 1)
      throw new RangeError('queues must be an integer >= 1');
    if (!Number.isSafeInteger(this.handSize) || this.handSize < 1)
      throw new RangeError('handSize must be an integer >= 1');
    if (this.maxPerFlow !== undefined && (!Number.isSafeInteger(this.maxPerFlow) || this.maxPerFlow < 1))
      throw new RangeError('maxPerFlow must be an integer >= 1');
    this.#queues = Array.from({ length: this.queueCount }, () => []);
    this.#lastFinish = Array.from({ length: this.queueCount }, () => 0);
  }

  /** Units held now, by everyone. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Requests waiting now, in every queue. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Units `flow` holds now. */
  heldBy(flow: string): number {
    return this.#flows.get(flow)?.held ?? 0;
  }

  /**
   * Whether a request of `flow` would be refused at once, before it is read: its flow is at
   * `maxPerFlow`, or every queue of its hand is full. A busy process alone is no reason: the
   * request waits its turn.
   */
  wouldRefuse(flow: string): boolean {
    if (this.maxPerFlow !== undefined && this.heldBy(flow) >= this.maxPerFlow) return true;
    if (this.#waiting === 0) return false;
    return this.#handOf(flow).every((queue) => this.#queues[queue]!.length >= this.queueLengthLimit);
  }

  /** Takes `amount` units for `flow` now if they are free and nobody waits; never waits. */
  tryAcquire(flow: string, amount = 1, weight = 1): FairQueueLease | FairQueueRefusal {
    checkAmount(amount);
    const state = this.#flow(flow, weight);
    if (this.maxPerFlow !== undefined && state.held + amount > this.maxPerFlow)
      return this.#refuse(flow, amount, 'flow-limit', 'user');
    if (this.#waiting === 0 && this.#fits(amount)) return this.#grant(flow, amount, 0);
    return this.#refuse(flow, amount, 'busy');
  }

  /**
   * Takes `amount` units for `flow`: at once when they are free and nobody waits, else after a
   * fair wait in the flow's queue. Rejects with a {@link FairQueueRefusal} when the wait would be
   * too long, or with the signal's reason when aborted.
   */
  acquire(flow: string, amount = 1, options: AcquireOptions = {}): Promise<FairQueueLease> {
    checkAmount(amount);
    const weight = options.weight ?? 1;
    if (!(weight > 0) || !Number.isFinite(weight)) throw new RangeError('weight must be a finite number > 0');
    const state = this.#flow(flow, weight);
    if (this.maxPerFlow !== undefined && state.held + amount > this.maxPerFlow)
      return Promise.reject(this.#refuse(flow, amount, 'flow-limit', 'user'));
    if (this.#waiting === 0 && this.#fits(amount)) return Promise.resolve(this.#grant(flow, amount, 0));
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    if (this.maxWaitMs <= 0) return Promise.reject(this.#refuse(flow, amount, 'busy'));
    const queue = this.#shortestOf(this.#handOf(flow));
    if (this.#queues[queue]!.length >= this.queueLengthLimit)
      return Promise.reject(this.#refuse(flow, amount, 'queue-full'));
    return new Promise<FairQueueLease>((resolve, reject) => {
      const start = Math.max(this.#virtual, this.#lastFinish[queue]!);
      const finish = start + amount / this.capacity / weight;
      this.#lastFinish[queue] = finish;
      const waiter: Waiter = {
        flow,
        amount,
        weight,
        start,
        finish,
        seq: this.#seq++,
        enqueuedAt: performance.now(),
        resolve,
        reject,
        timer: undefined,
        queue,
        onAbort: undefined,
        signal: options.signal,
      };
      waiter.timer = setTimeout(() => {
        if (!this.#remove(waiter)) return;
        reject(this.#refuse(flow, amount, 'timeout'));
        // The request that timed out may have been what held the others back.
        this.#dispatch();
      }, this.maxWaitMs);
      if (options.signal) {
        waiter.onAbort = () => {
          if (!this.#remove(waiter)) return;
          reject(options.signal!.reason);
          this.#dispatch();
        };
        options.signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#queues[queue]!.push(waiter);
      this.#waiting++;
      state.waiting++;
      state.queued++;
      this.#dispatch();
    });
  }

  /** The resource's use now, per flow, for metrics and the operators' page. */
  snapshot(): FairQueueSnapshot {
    return {
      capacity: this.capacity,
      inUse: this.#inUse,
      waiting: this.#waiting,
      flows: [...this.#flows].map(([flow, state]) => ({
        flow,
        held: state.held,
        waiting: state.waiting,
        queued: state.queued,
        refused: state.refused,
      })),
    };
  }

  #fits(amount: number): boolean {
    return this.#inUse === 0 || this.#inUse + amount <= this.capacity;
  }

  #flow(flow: string, weight: number): FlowState {
    let state = this.#flows.get(flow);
    if (!state) {
      state = { held: 0, waiting: 0, queued: 0, refused: 0, weight };
      this.#flows.set(flow, state);
      pruneIdleFlows(
        this.#flows,
        (idle) => idle.held === 0 && idle.waiting === 0,
        (gone) => this.#hands.delete(gone),
      );
    }
    state.weight = weight;
    return state;
  }

  #grant(flow: string, amount: number, waitedMs: number): FairQueueLease {
    this.#inUse += amount;
    const state = this.#flows.get(flow)!;
    state.held += amount;
    let active = true;
    return {
      amount,
      waitedMs,
      release: () => {
        if (!active) return;
        active = false;
        this.#inUse -= amount;
        state.held -= amount;
        // A pruned flow's state object may be gone from the map; it is only counters then.
        this.#dispatch();
      },
    };
  }

  /**
   * Grants waiting requests in fair order while the next one fits: the head of the flow holding
   * the least for its weight, then the smallest start tag, then the earliest arrival.
   */
  #dispatch(): void {
    while (this.#waiting > 0) {
      let best: Waiter | undefined;
      let bestHeld = Infinity;
      for (const queue of this.#queues) {
        const head = queue[0];
        if (!head) continue;
        const state = this.#flows.get(head.flow);
        const held = state ? state.held / state.weight : 0;
        if (
          !best ||
          held < bestHeld ||
          (held === bestHeld && (head.start < best.start || (head.start === best.start && head.seq < best.seq)))
        ) {
          best = head;
          bestHeld = held;
        }
      }
      if (!best || !this.#fits(best.amount)) return;
      this.#remove(best);
      this.#virtual = Math.max(this.#virtual, best.start);
      best.resolve(this.#grant(best.flow, best.amount, performance.now() - best.enqueuedAt));
    }
  }

  /** Takes a waiter out of its queue; false when it was no longer there. */
  #remove(waiter: Waiter): boolean {
    const queue = this.#queues[waiter.queue]!;
    const index = queue.indexOf(waiter);
    if (index < 0) return false;
    queue.splice(index, 1);
    this.#waiting--;
    const state = this.#flows.get(waiter.flow);
    if (state) state.waiting--;
    clearTimeout(waiter.timer);
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    return true;
  }

  /**
   * A refusal of `flow`'s request of `amount`, counted: `user` when granting it would take the
   * flow past its fair share now (what it holds is what it waits for), else `global`.
   */
  #refuse(
    flow: string,
    amount: number,
    reason: FairQueueRefusal['reason'],
    scope?: 'user' | 'global',
  ): FairQueueRefusal {
    const state = this.#flows.get(flow);
    if (state) state.refused++;
    const share = this.#fairShareOf(flow);
    const held = state?.held ?? 0;
    const resolved = scope ?? (held + amount > share || (state?.waiting ?? 0) > 0 ? 'user' : 'global');
    return resolved === 'user'
      ? new FairQueueRefusal('user', reason, held, Math.floor(share))
      : new FairQueueRefusal('global', reason, this.#inUse, this.capacity);
  }

  /** The capacity divided between the flows holding or waiting now, by weight (the asking flow counted). */
  #fairShareOf(flow: string): number {
    let total = 0;
    let own = 1;
    for (const [name, state] of this.#flows) {
      if (name === flow) own = state.weight;
      else if (state.held > 0 || state.waiting > 0) total += state.weight;
    }
    if (this.maxPerFlow !== undefined) return Math.min(this.maxPerFlow, (this.capacity * own) / (total + own));
    return (this.capacity * own) / (total + own);
  }

  /** The flow's hand: `handSize` distinct queues dealt by a generator seeded with the flow's hash. */
  #handOf(flow: string): number[] {
    let hand = this.#hands.get(flow);
    if (hand) return hand;
    let seed = fnv1a(flow);
    const deck = Array.from({ length: this.queueCount }, (_, i) => i);
    for (let i = 0; i < this.handSize; i++) {
      // xorshift32
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      seed >>>= 0;
      const j = i + (seed % (this.queueCount - i));
      [deck[i], deck[j]] = [deck[j]!, deck[i]!];
    }
    hand = deck.slice(0, this.handSize);
    if (this.#hands.size >= 10_000) this.#hands.clear();
    this.#hands.set(flow, hand);
    return hand;
  }

  #shortestOf(hand: number[]): number {
    let best = hand[0]!;
    for (const queue of hand) if (this.#queues[queue]!.length < this.#queues[best]!.length) best = queue;
    return best;
  }
}

function checkAmount(amount: number): void {
  if (!Number.isFinite(amount) || amount < 0) throw new RangeError('amount must be a finite number >= 0');
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash || 1;
}

/** The resources of an API process that users queue for; `details.resource` of a refusal. */
export type ShareResource = 'submits' | 'uploadBytes' | 'decodePixels' | 'streams';

const resourceWords: Record<ShareResource, string> = {
  submits: 'submissions in progress',
  uploadBytes: 'upload bytes held in memory',
  decodePixels: 'image decoding',
  streams: 'live event streams',
};

/**
 * `queue.acquire`, with a refusal turned into the answer it gets ({@link shareRefusal} for
 * `resource`): what the API's routes and services wait with.
 */
export async function acquireTurn(
  queue: FairQueue,
  resource: ShareResource,
  flow: string,
  amount: number,
  options: AcquireOptions = {},
): Promise<FairQueueLease> {
  try {
    return await queue.acquire(flow, amount, options);
  } catch (error) {
    throw refusalAnswer(resource, error);
  }
}

/** What a wait for `resource` that failed with `error` is answered: {@link shareRefusal} for a refusal, else `error` itself. */
export function refusalAnswer(resource: ShareResource, error: unknown): unknown {
  return error instanceof FairQueueRefusal ? shareRefusal(resource, error) : error;
}

/**
 * The answer to a refused request: 429 CONCURRENCY_LIMITED when the caller holds or waits for
 * at least their fair share (their own requests are what they wait for), 503 SERVER_BUSY when the
 * process is busy for everyone. Both say nothing was stored and carry `Retry-After`.
 */
export function shareRefusal(resource: ShareResource, refusal: FairQueueRefusal, retryAfterSeconds = 1): AppError {
  const details = { resource, reason: refusal.reason, inUse: refusal.inUse, limit: refusal.limit };
  if (refusal.scope === 'user') {
    return new AppError(
      'CONCURRENCY_LIMITED',
      `You hold your fair share of this server's ${resourceWords[resource]} (${refusal.limit}) and your requests waited their turn; nothing was stored. Try again when your earlier requests are answered.`,
      { details, retryAfterSeconds },
    );
  }
  return new AppError(
    'SERVER_BUSY',
    `This server's ${resourceWords[resource]} are all in use; nothing was stored. Try again shortly.`,
    { details, retryAfterSeconds },
  );
}
