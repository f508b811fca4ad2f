import type { ErrorCode } from './errors.ts';

/**
 * What becomes of a job whose attempt failed, or whose worker crashed: the one place that decides
 * retry, fail, expire or requeue (after trigger.dev's `engine/retrying.ts`). The worker asks it when
 * an attempt throws; the reconciler asks it for a row left unfinished whose queue entry ended
 * (failed, completed or gone). Both then only carry the decision out.
 *
 * After a worker crash, in order:
 * 1. BullMQ's stalled-job check hands the job, whose lock expired, to another worker, up to
 *    {@link crashedAttemptRuns} times (`maxStalledCount` of every inference queue's `Worker`);
 *    the result write is idempotent, so a second run is harmless.
 * 2. Past that, BullMQ fails the entry with a reason that is no error code, and the reconciler
 *    asks {@link decideFailedAttempt} with `{ kind: 'other' }`: the row fails with INTERNAL.
 * 3. An entry Redis lost altogether (`{ kind: 'lost' }`) is enqueued again while the job is young
 *    enough, and failed with JOB_LOST past the reconciler's maximum age.
 */

/** How many times BullMQ runs a job again whose worker stopped renewing its lock (crashed, hung). */
export const crashedAttemptRuns = 3;
/** The same for a shadow run: a comparison pair fewer is no loss worth three runs. */
export const crashedShadowRuns = 1;

/** Codes that say nothing about the job, only about the platform at the time: never a final answer while the job is young. */
export const transientErrorCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'DATABASE_UNAVAILABLE',
  'QUEUE_UNAVAILABLE',
]);

/** Why an attempt failed. */
export type AttemptError =
  /** The job's own fault (bad input, a model that rejects it, over its time limit): retrying cannot fix it. */
  | { kind: 'permanent'; code: ErrorCode; message: string }
  /** Postgres (or the queue) was unreachable: says nothing about the job. */
  | { kind: 'databaseUnavailable'; code: ErrorCode }
  /**
   * Anything else: a lost connection, a bug, a worker that crashed more often than BullMQ reruns
   * it. `reason`: the failed reason BullMQ kept, when the reconciler asks (it is in the message).
   */
  | { kind: 'other'; reason?: string }
  /** The queue entry is gone (Redis restarted empty, an enqueue lost) while the row is unfinished. */
  | { kind: 'lost' };

export interface FailedAttempt {
  error: AttemptError;
  /** Attempts BullMQ has made of this entry, the failed one included. */
  attemptsMade: number;
  /** Attempts the entry is allowed (the job catalog's `attempts`; 1 for an entry that is never retried). */
  attemptsAllowed: number;
  /** How old the job is, and past what age it is not worth running again (the reconciler's `maxAgeMs`). @defaultValue never too old */
  ageMs?: number;
  maxAgeMs?: number;
  /** The job never started and is past its ttl (`start_by`). @defaultValue false */
  pastTtlUnstarted?: boolean;
}

/**
 * - `retry`: BullMQ runs another attempt after its backoff (the row goes back to `queued` with the error).
 * - `fail`: the row fails for good with `code`.
 * - `expire`: the row becomes `expired`; the job never runs.
 * - `requeue`: the row stays unfinished and the reconciler enqueues the job again; a worker does
 *   nothing more (the transient code is never a final answer), the reconciler does it now.
 */
export type FailedAttemptDecision =
  | { action: 'retry'; code: ErrorCode }
  | { action: 'fail'; code: ErrorCode; message: string }
  | { action: 'expire' }
  | { action: 'requeue'; code: ErrorCode | null };

/** What a failed attempt becomes. Pure: the callers carry it out. */
export function decideFailedAttempt(attempt: FailedAttempt): FailedAttemptDecision {
  const { error } = attempt;
  if (attempt.pastTtlUnstarted) return { action: 'expire' };
  if (error.kind === 'permanent') return { action: 'fail', code: error.code, message: error.message };
  const attemptsLeft = attempt.attemptsMade < attempt.attemptsAllowed;
  const tooOld = attempt.ageMs !== undefined && attempt.maxAgeMs !== undefined && attempt.ageMs > attempt.maxAgeMs;
  switch (error.kind) {
    case 'databaseUnavailable':
      if (attemptsLeft) return { action: 'retry', code: error.code };
      return tooOld
        ? { action: 'fail', code: error.code, message: 'The job failed.' }
        : { action: 'requeue', code: error.code };
    case 'other':
      if (attemptsLeft) return { action: 'retry', code: 'INTERNAL' };
      if (error.reason !== undefined)
        return {
          action: 'fail',
          code: 'INTERNAL',
          message: error.reason ? `The job failed: ${error.reason}` : 'The job failed.',
        };
      return { action: 'fail', code: 'INTERNAL', message: 'The job failed after all its attempts.' };
    case 'lost':
      return tooOld
        ? { action: 'fail', code: 'JOB_LOST', message: 'The job was lost from the queue and is too old to run again.' }
        : { action: 'requeue', code: null };
  }
}
