import type { ModelHistoryStore } from '@inferq/db';

export interface HistoryRecorderOptions {
  store: ModelHistoryStore;
  /** Per model, the live workers serving it now (the heartbeats); undefined when Redis cannot say. */
  workersByModel: () => Promise<Map<string, number> | undefined>;
  /** How long minutes are kept. @defaultValue 30 days */
  retentionMs?: number;
}

/**
 * Writes the per-model history (ModelHistoryStore) once a minute. Run by the reconciler's leader,
 * so one process writes it whatever the number of workers: per pass, two statements over the last
 * two minutes of jobs, one for the sample (oldest waiting job, workers), and the retention delete.
 * Its cost does not grow with the job rate beyond the rows of those two minutes.
 */
export class HistoryRecorder {
  readonly #options: HistoryRecorderOptions;
  /** The minute last sampled: a pass within the same minute only catches the counts up. */
  #lastMinute = 0;

  constructor(options: HistoryRecorderOptions) {
    this.#options = options;
  }

  /** Records the minutes that ended before `now`, at most once per minute. True when it wrote. */
  async record(now = new Date()): Promise<boolean> {
    const minute = Math.floor(now.getTime() / 60_000);
    if (minute === this.#lastMinute) return false;
    const { store } = this.#options;
    const [oldestQueued, workers] = await Promise.all([
      store.oldestQueued(),
      this.#options.workersByModel().catch(() => undefined),
    ]);
    await store.record(now, { oldestQueued, workers: workers ?? new Map() });
    await store.deleteBefore(new Date(now.getTime() - (this.#options.retentionMs ?? 30 * 24 * 3600_000)));
    this.#lastMinute = minute;
    return true;
  }
}
