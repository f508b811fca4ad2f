import type { NextFunction, Response } from 'express';
import { acquireTurn, type FairQueue, type ShareResource } from '@inferq/admission';

/**
 * Waits for this request's turn at a fair queue, then holds the units until the answer is sent (or
 * the client goes away), storing their release in `res.locals[releaseKey]` for an earlier give-back.
 * A client that goes away while waiting leaves the queue and is answered nothing; a request whose
 * turn does not come in time is answered the refusal (429 or 503, with `Retry-After`).
 */
export function waitForTurn(
  res: Response,
  next: NextFunction,
  queue: FairQueue,
  turn: { resource: ShareResource; flow: string; amount: number; weight: number; releaseKey: string },
): void {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.once('close', onClose);
  acquireTurn(queue, turn.resource, turn.flow, turn.amount, { weight: turn.weight, signal: gone.signal }).then(
    (lease) => {
      res.off('close', onClose);
      if (gone.signal.aborted || res.writableEnded) return lease.release();
      res.locals[turn.releaseKey] = lease.release;
      res.once('close', lease.release);
      next();
    },
    (error: unknown) => {
      res.off('close', onClose);
      if (gone.signal.aborted) return; // the client went away while waiting: nobody to answer
      next(error);
    },
  );
}
