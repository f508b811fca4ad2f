import type { RequestHandler, Response } from 'express';
import { AppError } from '@inferq/core';

const releaseKey = 'releaseSubmitSlot';

/** Submissions one API process validates and stores at once unless configured otherwise. */
export const defaultMaxConcurrentSubmits = 32;

function serverBusy(): AppError {
  return new AppError('SERVER_BUSY', 'This server is handling as many submissions as it can; nothing was stored. Try again shortly.', {
    retryAfterSeconds: 1,
  });
}

/**
 * At most `max` submissions being processed at once in this API process (validating the image,
 * storing and enqueueing the job); more are answered 503 SERVER_BUSY. On a saturated machine the
 * alternative is every submission slowing down together until clients time out: a bounded number
 * in progress keeps their answers fast and the rest get a quick, retryable refusal.
 *
 * A slot is taken once the upload has been read, so slow uploads hold none; a server already full
 * refuses before authentication and before reading the body, so a refusal costs almost nothing.
 */
export class SubmitSlots {
  readonly max: number;
  #inProgress = 0;

  /** @param max - submissions in progress at once; @defaultValue defaultMaxConcurrentSubmits (32) */
  constructor(max: number = defaultMaxConcurrentSubmits) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be an integer >= 1');
    this.max = max;
  }

  get inProgress(): number {
    return this.#inProgress;
  }

  /** Mount first: a full server refuses at once. */
  readonly refuseWhenFull: RequestHandler = (_req, _res, next) => {
    next(this.#inProgress >= this.max ? serverBusy() : undefined);
  };

  /** Mount after the upload is parsed: holds a slot until releaseSubmitSlot or the answer is sent. */
  readonly acquire: RequestHandler = (_req, res, next) => {
    if (this.#inProgress >= this.max) {
      next(serverBusy());
      return;
    }
    this.#inProgress++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#inProgress--;
    };
    res.locals[releaseKey] = release;
    res.once('close', release);
    next();
  };
}

/** Gives the slot back once the job is stored and queued: a `Prefer: wait` that follows holds none. */
export function releaseSubmitSlot(res: Response): void {
  (res.locals[releaseKey] as (() => void) | undefined)?.();
}
