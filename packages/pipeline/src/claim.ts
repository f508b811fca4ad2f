import type { JobLifecycle } from '@inferq/lifecycle';
import type { WorkerMetrics } from '@inferq/metrics';
import { Batcher } from '@inferq/inference';
import type { PixelStore, StoredPixels } from '@inferq/queue';
import { disabledTracing, type Tracing } from '@inferq/tracing';
import type { Attempt, ClaimedJob } from './attempt.ts';

export interface AttemptClaimsOptions {
  /** Moves the rows to `running` (or `expired`) and announces them. */
  lifecycle: JobLifecycle;
  workerId: string;
  /** The model pixels the API handed over (Redis). @defaultValue none: every job's input is read */
  pixels?: PixelStore | undefined;
  /** Jobs claimed in one statement at most. @defaultValue 64 */
  maxBatch?: number;
  metrics?: WorkerMetrics | undefined;
  /** @defaultValue disabledTracing */
  tracing?: Tracing | undefined;
}

/**
 * Step 1, claim: starts the attempt on the job's row. Jobs taken from the queue together (a
 * batch's worth of slots frees at once) are claimed in one statement that also reads their
 * inputs; one at a time while the worker is quiet. Their pixels, where the API handed some over
 * (the payload says so), are taken from Redis first (one pipeline), so those jobs' inputs are not
 * read at all. Redis failing here only costs decodes.
 */
export class AttemptClaims {
  readonly #options: AttemptClaimsOptions;
  readonly #starter: Batcher<Attempt, ClaimedJob | null>;

  constructor(options: AttemptClaimsOptions) {
    this.#options = options;
    this.#starter = new Batcher<Attempt, ClaimedJob | null>({
      maxBatchSize: options.maxBatch ?? 64,
      maxDelayMs: 0,
      run: async (attempts) => {
        const ids = attempts.map(({ payload }) => payload.jobId);
        // Only the jobs whose payload says pixels were handed over: no Redis read for the others.
        const marked = attempts.flatMap(({ payload }, i) => (payload.pixels ? [i] : []));
        const handed: Array<StoredPixels | undefined> = ids.map(() => undefined);
        if (options.pixels && marked.length > 0) {
          const taken = await options.pixels
            .takeMany(marked.map((i) => ids[i]!))
            .catch(() => marked.map(() => undefined));
          marked.forEach((i, k) => (handed[i] = taken[k]));
        }
        const withoutInput = ids.filter((_, i) => handed[i] !== undefined);
        const started = await options.lifecycle.start(
          attempts.map(({ payload, userId }) => ({ id: payload.jobId, userId, model: payload.model })),
          options.workerId,
          new Date(),
          withoutInput,
        );
        return ids.map((id, i) => {
          const row = started.get(id);
          if (!row) return null;
          const pixels = handed[i];
          return pixels ? { ...row, handed: pixels } : row;
        });
      },
    });
  }

  /**
   * Moves the row to `running` (batched with the other attempts starting now) and fills in the
   * attempt's owner, result sink and start time. Null: the attempt must not run (canceled,
   * finished by an earlier attempt, deleted, or expired by this claim).
   */
  async claim(attempt: Attempt): Promise<ClaimedJob | null> {
    const { payload } = attempt;
    const tracing = this.#options.tracing ?? disabledTracing;
    const row = await tracing.inSpan('start', { parent: attempt.span }, () => this.#starter.submit(attempt));
    if (!row) return null;
    if (row.expired) {
      // Past its ttl before any attempt began: moved to `expired` by the claim itself, never run.
      attempt.log.info('job expired before it started; skipped');
      return null;
    }
    attempt.startedAt = performance.now();
    attempt.userId = row.userId;
    attempt.resultPrefix = row.resultPrefix;
    if (row.attempts === 1 && row.queueWaitMs !== null)
      this.#options.metrics?.queueWait.observe({ model: payload.model }, row.queueWaitMs / 1000);
    return row;
  }
}
