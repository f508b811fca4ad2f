import type { NextFunction, Response } from 'express';
import { acquireTurn, type FairQueue, type ShareResource } from '@inferq/admission';

/** What a turn holds until it is given back: a fair queue's lease, or a pass through the submit slots' door. */
export interface HeldTurn {
  release(): void;
}

/**
 * Waits for this request's turn (`take`, given a signal that aborts when the client goes away),
 * then holds it until the answer is sent (or the client goes away), storing its release in
 * `res.locals[releaseKey]` for an earlier give-back. A client that goes away while waiting leaves
 * the line and is answered nothing; a request whose turn does not come in time is answered the
 * refusal `take` rejects with (429 or 503, with `Retry-After`).
 */
export function waitForTurn(
  res: Response,
  next: NextFunction,
  take: (signal: AbortSignal) => Promise<HeldTurn>,
  releaseKey: string,
): void {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.once('close', onClose);
  take(gone.signal).then(
    (turn) => {
      res.off('close', onClose);
      if (gone.signal.aborted || res.writableEnded) return turn.release();
      res.locals[releaseKey] = turn.release;
      res.once('close', turn.release);
      next();
    },
    (error: unknown) => {
      res.off('close', onClose);
      if (gone.signal.aborted) return; // the client went away while waiting: nobody to answer
      next(error);
    },
  );
}

/** A turn at a fair queue: `amount` units of `resource` for `flow`, at its weight. */
export function queueTurn(
  queue: FairQueue,
  turn: { resource: ShareResource; flow: string; amount: number; weight: number },
): (signal: AbortSignal) => Promise<HeldTurn> {
  return (signal) => acquireTurn(queue, turn.resource, turn.flow, turn.amount, { weight: turn.weight, signal });
}
