/**
 * Group commit: callers hand in one item each and wait for its own result, while the work runs
 * for many items at once. Nothing waits for a timer: an item that arrives while no group is being
 * written starts one at once, alone; items that arrive while a group is being written gather and
 * go together in the next. Under light load each item costs what it did alone; under heavy load
 * the per-group costs (a transaction, a round trip) are shared by everyone in the group.
 */
export interface GroupCommitOptions<T, R> {
  /**
   * Does the work for a group, returning one result per item in order; throwing fails every
   * item of the group with that error.
   */
  run(items: T[]): Promise<R[]>;
  /** Most items in one group. @defaultValue 64 */
  maxGroupSize?: number;
  /** Groups written at once. @defaultValue 1 */
  concurrency?: number;
}

interface Pending<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export class GroupCommit<T, R> {
  readonly #run: (items: T[]) => Promise<R[]>;
  readonly #maxGroupSize: number;
  readonly #concurrency: number;
  #waiting: Array<Pending<T, R>> = [];
  #running = 0;

  constructor(options: GroupCommitOptions<T, R>) {
    this.#run = options.run;
    this.#maxGroupSize = options.maxGroupSize ?? 64;
    this.#concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(this.#maxGroupSize) || this.#maxGroupSize < 1)
      throw new RangeError('maxGroupSize must be an integer >= 1');
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1)
      throw new RangeError('concurrency must be an integer >= 1');
  }

  /** Items waiting for a group to start. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves with the item's own result once its group is written. */
  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#drain();
    });
  }

  /** Several items in the same group (as far as maxGroupSize allows); results in order. */
  submitAll(items: readonly T[]): Promise<R[]> {
    const results = items.map(
      (item) =>
        new Promise<R>((resolve, reject) => {
          this.#waiting.push({ item, resolve, reject });
        }),
    );
    this.#drain();
    return Promise.all(results);
  }

  #drain(): void {
    while (this.#running < this.#concurrency && this.#waiting.length > 0) {
      const group = this.#waiting.splice(0, this.#maxGroupSize);
      this.#running++;
      void this.#write(group);
    }
  }

  async #write(group: Array<Pending<T, R>>): Promise<void> {
    try {
      const results = await this.#run(group.map((pending) => pending.item));
      if (results.length !== group.length)
        throw new Error(`group commit: ${results.length} results for ${group.length} items`);
      group.forEach((pending, i) => pending.resolve(results[i]!));
    } catch (error) {
      for (const pending of group) pending.reject(error);
    } finally {
      this.#running--;
      this.#drain();
    }
  }
}
