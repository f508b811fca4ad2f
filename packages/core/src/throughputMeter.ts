/**
 * A model's measured throughput in one worker: jobs finished per second of busy time (while at
 * least one of its jobs was held), over a sliding window. Busy time, not wall time, so a model
 * that had little to do still reports what it does when it has work: the rate a queue drains at.
 * Constant memory: completions in one-second buckets, busy spans merged as they close.
 */
export class ThroughputMeter {
  readonly #windowMs: number;
  /** Completions per second, by second (ms / 1000, floored), for the window's seconds. */
  readonly #buckets = new Map<number, number>();
  /** Closed busy spans that end within the window, oldest first. */
  #spans: Array<[start: number, end: number]> = [];
  #active = 0;
  #busySince: number | undefined;

  /** @param windowMs How far back the rate looks. @defaultValue 60000 */
  constructor(windowMs = 60_000) {
    this.#windowMs = windowMs;
  }

  /** A job was taken (held or running). */
  begin(now = Date.now()): void {
    if (this.#active++ === 0) this.#busySince = now;
  }

  /** A job taken with `begin` ended; `completed`: it produced a result (counted in the rate). */
  end(completed: boolean, now = Date.now()): void {
    if (completed) {
      const second = Math.floor(now / 1000);
      this.#buckets.set(second, (this.#buckets.get(second) ?? 0) + 1);
    }
    if (this.#active > 0 && --this.#active === 0 && this.#busySince !== undefined) {
      const last = this.#spans.at(-1);
      // Gaps under 50 ms join the span before: bounded memory at the cost of a sliver of idle time.
      if (last && this.#busySince - last[1] < 50) last[1] = now;
      else this.#spans.push([this.#busySince, now]);
      this.#busySince = undefined;
    }
    this.#prune(now);
  }

  /** Jobs per second of busy time over the window; null when none completed in it. */
  rate(now = Date.now()): number | null {
    this.#prune(now);
    const from = now - this.#windowMs;
    let completed = 0;
    for (const [second, count] of this.#buckets) if (second * 1000 >= from) completed += count;
    if (completed === 0) return null;
    let busyMs = 0;
    for (const [start, end] of this.#spans) busyMs += Math.max(0, end - Math.max(start, from));
    if (this.#busySince !== undefined) busyMs += now - Math.max(this.#busySince, from);
    // At least the second the completions were counted in: a burst inside one tick is not infinitely fast.
    return completed / Math.max(1, busyMs / 1000);
  }

  #prune(now: number): void {
    const from = now - this.#windowMs;
    for (const second of this.#buckets.keys()) if ((second + 1) * 1000 < from) this.#buckets.delete(second);
    while (this.#spans.length > 0 && this.#spans[0]![1] < from) this.#spans.shift();
  }
}
