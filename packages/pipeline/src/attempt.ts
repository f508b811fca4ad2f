import type { Logger } from 'pino';
import type { ErrorCode, InferenceJobPayload } from '@inferq/core';
import type { StartedJob } from '@inferq/db';
import type { StoredPixels } from '@inferq/queue';
import type { Span } from '@inferq/tracing';

/**
 * The job path's words. A *job* is a row in Postgres; an *attempt* is one run of it by this
 * worker (BullMQ may make several); a *claim* moves the row to `running` for an attempt; a
 * *batch* is one model call shared by the attempts that reached it together.
 */

/** A failure that retrying cannot fix: the row is failed with `code` and the attempt is not retried. */
export class PermanentFailure extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * What the pipeline throws when the queue must not run the attempt again (the app turns it into
 * BullMQ's `UnrecoverableError`). Its message is what the queue keeps as the failed reason: the
 * error code, which the reconciler reads back.
 */
export class FinalAttemptError extends Error {}

/** A queue entry as the pipeline needs it: no BullMQ types (the app maps its `Job` to this). */
export interface QueuedAttempt {
  /** The entry's id (the job's row id), when it has one. */
  id: string | undefined;
  /** The payload as dequeued; checked again here (old payloads can sit in Redis). */
  data: unknown;
  /** Attempts made before this one. */
  attemptsMade: number;
  /** Attempts the entry is allowed in all. */
  attemptsAllowed: number;
}

export interface JobOutcome {
  status: 'succeeded' | 'skipped';
  modelVersion?: string;
  engine?: string;
}

export interface WorkerStats {
  succeeded: number;
  failed: number;
  skipped: number;
  batches: number;
}

/** A model's jobs in this worker right now. */
export interface ModelJobs {
  model: string;
  held: number;
  running: number;
  /** Jobs of the model this worker takes at most. */
  concurrency: number;
  /** Jobs finished per second of busy time over the last minute (queue positions' ETA); null: none finished. */
  throughput?: number | null;
}

/** A job whose attempt was claimed: its row, and the pixels the API handed over, if any. */
export type ClaimedJob = StartedJob & { handed?: StoredPixels };

/** One attempt on its way through the steps. */
export interface Attempt {
  payload: InferenceJobPayload;
  log: Logger;
  /** The job's owner, known once the attempt was claimed. */
  userId: string | null;
  /** The job's result sink (`results/<prefix>/<id>.json`), known once the attempt was claimed. */
  resultPrefix?: string | null;
  /** held: taken from the queue, waiting to be preprocessed or for its batch; running: being preprocessed or in a running batch. */
  phase: 'held' | 'running';
  /** Where the attempt is counted: its queue's model. */
  counts: ModelJobs | undefined;
  /** Set when the attempt ended: a batch that starts after a timeout no longer moves it. */
  ended?: boolean;
  /** performance.now() when the row moved to running, and when the job's model batch started. */
  startedAt?: number;
  batchStartedAt?: number;
  /** The attempt's span (a non-recording one when tracing is off). */
  span: Span;
}

/** Moves an attempt between held and running, for the operators' counts. */
export function enterPhase(attempt: Attempt, phase: 'held' | 'running'): void {
  const entry = attempt.counts;
  if (!entry || attempt.ended || attempt.phase === phase) return;
  entry[attempt.phase]--;
  entry[phase]++;
  attempt.phase = phase;
}
