/**
 * Group commit: callers hand in one item each and wait for its own result, while the work runs
 * for many items at once. Nothing waits for a timer: an item that arrives while no group is being
 * written starts one at once, alone; items that arrive while a group is being written gather and
 * go together in the next. Under light load each item costs what it did alone; under heavy load
 * the per-group costs (a transaction, a round trip) are shared by everyone in the group. With
 * `ownerOf`, one owner's items are in one group being written at a time, and the other groups
 * take the other owners' items meanwhile.
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
  /**
   * The owner of an item: items of one owner are never in two groups being written at once (a
   * group that would take one waits its turn while another group holds that owner). Where the
   * work serializes owners anyway (a lock per owner), a group of several owners would otherwise
   * wait for the group ahead that holds one of them. @defaultValue none: any item in any group
   */
  ownerOf?: (item: T) => string;
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
  readonly #ownerOf: ((item: T) => string) | undefined;
  #waiting: Array<Pending<T, R>> = [];
  #running = 0;
  /** Owners with items in a group being written (one group each). */
  readonly #busy = new Set<string>();

  constructor(options: GroupCommitOptions<T, R>) {
    this.#run = options.run;
    this.#maxGroupSize = options.maxGroupSize ?? 64;
    this.#concurrency = options.concurrency ?? 1;
    this.#ownerOf = options.ownerOf;
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
      const owners = new Set<string>();
      const group = this.#ownerOf ? this.#takeFree(this.#ownerOf, owners) : this.#waiting.splice(0, this.#maxGroupSize);
      if (group.length === 0) return; // every waiting item's owner is in a group being written
      for (const owner of owners) this.#busy.add(owner);
      this.#running++;
      void this.#write(group, owners);
    }
  }

  /**
   * The next group, in arrival order, of items whose owners no group being written holds; their
   * owners are added to `owners`.
   */
  #takeFree(ownerOf: (item: T) => string, owners: Set<string>): Array<Pending<T, R>> {
    const group: Array<Pending<T, R>> = [];
    const left: Array<Pending<T, R>> = [];
    for (const pending of this.#waiting) {
      const owner = ownerOf(pending.item);
      if (group.length < this.#maxGroupSize && !this.#busy.has(owner)) {
        group.push(pending);
        owners.add(owner);
      } else left.push(pending);
    }
    this.#waiting = left;
    return group;
  }

  async #write(group: Array<Pending<T, R>>, owners: ReadonlySet<string>): Promise<void> {
    try {
      const results = await this.#run(group.map((pending) => pending.item));
      if (results.length !== group.length)
        throw new Error(`group commit: ${results.length} results for ${group.length} items`);
      group.forEach((pending, i) => pending.resolve(results[i]!));
    } catch (error) {
      for (const pending of group) pending.reject(error);
    } finally {
      this.#running--;
      for (const owner of owners) this.#busy.delete(owner);
      this.#drain();
    }
  }
}
