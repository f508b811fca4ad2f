/**
 * Collects items submitted one at a time into batches for one `run` call: a batch starts when
 * `maxBatchSize` items wait, or `maxDelayMs` after the oldest waiting item arrived, whichever
 * comes first. Batches run one at a time (a model on one device gains nothing from overlapping
 * them); items that arrive meanwhile form the next batch.
 *
 * `run` answers one result per item, in order; an `Error` in that array rejects only its item.
 * When `run` throws for a batch of several items, each item is retried alone, so one poison input
 * fails itself and not its neighbours.
 */
export interface BatcherOptions<I, O> {
  /** Most items in one run call. */
  maxBatchSize: number;
  /** Longest the oldest waiting item waits for the batch to fill; 0 still gathers the items submitted in the same tick. */
  maxDelayMs: number;
  /** Runs one batch; answers one output or Error per item, in order. */
  run: (items: I[]) => Promise<Array<O | Error>>;
  /**
   * The model's latency budget (`limits.latencyBudgetMs`). When set, the delay adapts to the
   * arrival rate (see {@link adaptiveDelayMs}): the batcher waits for more items only while they
   * arrive fast enough to fill the batch further within `maxDelayMs` and the budget left after the
   * last batch's run time, and not at all when they arrive slower than one per delay.
   * @defaultValue none: always up to `maxDelayMs`
   */
  latencyBudgetMs?: number;
}

/** What the adaptive delay is decided from (all in ms). */
export interface AdaptiveDelayInput {
  maxBatchSize: number;
  maxDelayMs: number;
  latencyBudgetMs: number;
  /** Items waiting now (the oldest among them decides the deadline). */
  queued: number;
  /** How long the oldest waiting item has waited. */
  waitedMs: number;
  /** The observed mean gap between arrivals; null before two arrivals. */
  arrivalGapMs: number | null;
  /** How long the last batch ran; 0 before one ran. */
  lastRunMs: number;
}

/**
 * How much longer the oldest waiting item waits for its batch to fill. Never longer than
 * `maxDelayMs` after it arrived, nor than the budget less the last run time (the batch still has
 * to run within the budget). No wait at all when items arrive slower than one per that limit (the
 * next one is unlikely to come in time: waiting only adds latency) or the arrival rate is not
 * known yet; otherwise the time the observed rate needs to fill the batch, within the limit.
 */
export function adaptiveDelayMs(input: AdaptiveDelayInput): number {
  const limit = Math.min(input.maxDelayMs, Math.max(0, input.latencyBudgetMs - input.lastRunMs));
  const left = limit - input.waitedMs;
  if (left <= 0 || input.arrivalGapMs === null || input.arrivalGapMs > limit) return 0;
  const toFill = (input.maxBatchSize - input.queued) * input.arrivalGapMs;
  return Math.max(0, Math.min(left, toFill));
}

/** Weight of the newest gap in the arrival gap's moving average. */
const gapSmoothing = 0.2;

export interface BatcherStats {
  /** Calls to run with a whole batch (retries of single items not counted). */
  batches: number;
  /** Items that went through run, counting each once. */
  items: number;
  /** batch size → how many batches had it. */
  sizes: Record<number, number>;
  /** Items resolved with an output. */
  succeeded: number;
  /** Items rejected (an Error result, or run threw for them alone). */
  failed: number;
  /** Batches whose run threw and whose items were retried one by one. */
  splitBatches: number;
  /** Items waiting for a batch now. */
  queued: number;
  /** Whether a batch is running now. */
  running: boolean;
}

/** Thrown by `submit` after `close`. */
export class BatcherClosedError extends Error {
  constructor() {
    super('batcher is closed');
    this.name = 'BatcherClosedError';
  }
}

interface Pending<I, O> {
  item: I;
  enqueuedAt: number;
  resolve: (output: O) => void;
  reject: (error: Error) => void;
}

export class Batcher<I, O> {
  readonly #maxBatchSize: number;
  readonly #maxDelayMs: number;
  readonly #run: BatcherOptions<I, O>['run'];
  readonly #latencyBudgetMs: number | undefined;
  /** Moving average of the gaps between submits (the adaptive delay's arrival rate). */
  #arrivalGapMs: number | null = null;
  #lastArrival: number | null = null;
  #lastRunMs = 0;
  #queue: Array<Pending<I, O>> = [];
  #cancelTimer: (() => void) | null = null;
  #due = false;
  #running: Promise<void> | null = null;
  #closed = false;
  readonly #stats = {
    batches: 0,
    items: 0,
    sizes: {} as Record<number, number>,
    succeeded: 0,
    failed: 0,
    splitBatches: 0,
  };

  constructor(options: BatcherOptions<I, O>) {
    if (!Number.isInteger(options.maxBatchSize) || options.maxBatchSize < 1)
      throw new RangeError('maxBatchSize must be an integer >= 1');
    if (!Number.isFinite(options.maxDelayMs) || options.maxDelayMs < 0) throw new RangeError('maxDelayMs must be >= 0');
    this.#maxBatchSize = options.maxBatchSize;
    this.#maxDelayMs = options.maxDelayMs;
    this.#run = options.run;
    if (options.latencyBudgetMs !== undefined && !(options.latencyBudgetMs > 0))
      throw new RangeError('latencyBudgetMs must be > 0');
    this.#latencyBudgetMs = options.latencyBudgetMs;
  }

  /** Queues one item; resolves with its output or rejects with its error. */
  submit(item: I): Promise<O> {
    if (this.#closed) return Promise.reject(new BatcherClosedError());
    return new Promise<O>((resolve, reject) => {
      const now = performance.now();
      if (this.#lastArrival !== null) {
        const gap = now - this.#lastArrival;
        this.#arrivalGapMs =
          this.#arrivalGapMs === null ? gap : this.#arrivalGapMs + gapSmoothing * (gap - this.#arrivalGapMs);
      }
      this.#lastArrival = now;
      this.#queue.push({ item, enqueuedAt: now, resolve, reject });
      // Adaptive: each arrival may change how long the batch is worth waiting for.
      if (this.#queue.length === 1 || this.#latencyBudgetMs !== undefined) this.#armTimer();
      this.#pump();
    });
  }

  get stats(): BatcherStats {
    return {
      ...this.#stats,
      sizes: { ...this.#stats.sizes },
      queued: this.#queue.length,
      running: this.#running !== null,
    };
  }

  /** Runs what is queued now without waiting for the delay. */
  flush(): void {
    this.#due = true;
    this.#pump();
  }

  /** Refuses new items, runs the queued ones and resolves once none is left running. */
  async close(): Promise<void> {
    this.#closed = true;
    this.flush();
    while (this.#running !== null || this.#queue.length > 0) {
      if (this.#running !== null) await this.#running;
      else this.#pump();
    }
  }

  #armTimer(): void {
    this.#clearTimer();
    const oldest = this.#queue[0];
    if (oldest === undefined) return;
    const waitedMs = performance.now() - oldest.enqueuedAt;
    const wait =
      this.#latencyBudgetMs === undefined
        ? this.#maxDelayMs - waitedMs
        : adaptiveDelayMs({
            maxBatchSize: this.#maxBatchSize,
            maxDelayMs: this.#maxDelayMs,
            latencyBudgetMs: this.#latencyBudgetMs,
            queued: this.#queue.length,
            waitedMs,
            arrivalGapMs: this.#arrivalGapMs,
            lastRunMs: this.#lastRunMs,
          });
    const fire = () => {
      this.#cancelTimer = null;
      this.#due = true;
      this.#pump();
    };
    if (wait > 0) {
      const timer = setTimeout(fire, wait);
      this.#cancelTimer = () => clearTimeout(timer);
    } else {
      // Already due: still let the items submitted in this same tick join the batch.
      const immediate = setImmediate(fire);
      this.#cancelTimer = () => clearImmediate(immediate);
    }
  }

  #clearTimer(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
  }

  #pump(): void {
    if (this.#running !== null || this.#queue.length === 0) return;
    if (!this.#due && !this.#closed && this.#queue.length < this.#maxBatchSize) return;
    const batch = this.#queue.splice(0, this.#maxBatchSize);
    this.#due = false;
    // The next batch's delay counts from its own oldest item, which may already have waited.
    if (this.#queue.length > 0) this.#armTimer();
    else this.#clearTimer();
    this.#running = this.#runBatch(batch).finally(() => {
      this.#running = null;
      this.#pump();
    });
  }

  async #runBatch(batch: Array<Pending<I, O>>): Promise<void> {
    this.#stats.batches++;
    this.#stats.items += batch.length;
    this.#stats.sizes[batch.length] = (this.#stats.sizes[batch.length] ?? 0) + 1;
    let results: Array<O | Error>;
    const started = performance.now();
    try {
      results = await this.#call(batch.map((p) => p.item));
      this.#lastRunMs = performance.now() - started;
    } catch (error) {
      if (batch.length === 1) {
        this.#settle(batch[0] as Pending<I, O>, toError(error));
        return;
      }
      this.#stats.splitBatches++;
      for (const pending of batch) {
        try {
          const [result] = await this.#call([pending.item]);
          this.#settle(pending, result as O | Error);
        } catch (itemError) {
          this.#settle(pending, toError(itemError));
        }
      }
      return;
    }
    batch.forEach((pending, i) => this.#settle(pending, results[i] as O | Error));
  }

  /** run, with its answer checked: one result per item. */
  async #call(items: I[]): Promise<Array<O | Error>> {
    const results = await this.#run(items);
    if (!Array.isArray(results) || results.length !== items.length) {
      throw new Error(
        `batch run returned ${Array.isArray(results) ? results.length : typeof results} results for ${items.length} items`,
      );
    }
    return results;
  }

  #settle(pending: Pending<I, O>, result: O | Error): void {
    if (result instanceof Error) {
      this.#stats.failed++;
      pending.reject(result);
    } else {
      this.#stats.succeeded++;
      pending.resolve(result);
    }
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
