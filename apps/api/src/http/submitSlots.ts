import type { Request, RequestHandler, Response } from 'express';
import { SubmitGate, type FairQueue } from '@inferq/admission';
import { apiKeyPrefix } from '@inferq/accounts';
import { principalOf } from './authenticate.ts';
import { waitForTurn } from './fairTurn.ts';

const releaseKey = 'releaseSubmitSlot';
const bearerPattern = /^Bearer ([^\s]{1,200})$/i;
/** Early refusals held back at once; past it they are answered at once. */
const maxHeldRefusals = 512;

export interface SubmitSlotsOptions {
  /**
   * How long an early refusal (a user whose fair queues are full) is held before it is answered:
   * what its `Retry-After` asks anyway. A flood that sends again the moment it is answered then
   * makes a refusal a second per connection instead of thousands, at the cost of a timer and an
   * idle socket (its body is not read). At most 512 are held at once. @defaultValue 1000
   */
  refusalDelayMs?: number;
  /** The caller's weight in the fair queue (its tier's shareWeight). @defaultValue 1 for everyone */
  weightOf?: (req: Request) => number;
}

function keyPrefixOf(req: Request): string | null {
  const key = req.headers.authorization ? bearerPattern.exec(req.headers.authorization)?.[1] : undefined;
  return key ? apiKeyPrefix(key) : null;
}

/** Submissions one API process validates and stores at once unless configured otherwise. */
export const defaultMaxConcurrentSubmits = 32;

/**
 * At most `queue.capacity` submissions being processed at once in this API process (validating
 * the images, storing and enqueueing the jobs). On a saturated machine the alternative is every
 * submission slowing down together until clients time out: a bounded number in progress keeps
 * their answers fast. The slots are a {@link FairQueue}: one user alone may take every slot, and
 * when they are all taken a submission waits its fair turn in its user's queue, so one account's
 * burst delays the others by one turn each, never refuses them. Only a wait past the queue's
 * bound is answered: 429 CONCURRENCY_LIMITED to a user who holds a fair share already, else 503
 * SERVER_BUSY.
 *
 * A slot is taken once the upload has been read, so slow uploads hold none (their bytes are
 * bounded by the upload memory queue instead). A user whose every queue is full is refused before
 * authentication and before reading the body ({@link SubmitGate}, which decides; this middleware
 * reads the key's prefix from the request and holds the refusal back).
 */
export class SubmitSlots {
  readonly queue: FairQueue;
  readonly #gate: SubmitGate;
  readonly #refusalDelayMs: number;
  readonly #weightOf: (req: Request) => number;
  #heldRefusals = 0;

  constructor(queue: FairQueue, options: SubmitSlotsOptions = {}) {
    this.queue = queue;
    this.#gate = new SubmitGate(queue);
    this.#refusalDelayMs = options.refusalDelayMs ?? 1000;
    this.#weightOf = options.weightOf ?? (() => 1);
  }

  get max(): number {
    return this.queue.capacity;
  }

  get inProgress(): number {
    return this.queue.inUse;
  }

  /** Mount first: a known key whose user's queues are full is refused at once. */
  readonly refuseWhenFull: RequestHandler = (req, _res, next) => {
    const refusal = this.#gate.refusalFor(keyPrefixOf(req));
    if (!refusal) return next();
    if (this.#refusalDelayMs <= 0 || this.#heldRefusals >= maxHeldRefusals) return next(refusal);
    this.#heldRefusals++;
    setTimeout(() => {
      this.#heldRefusals--;
      next(refusal);
    }, this.#refusalDelayMs).unref();
  };

  /** Mount after the upload is parsed: waits for a slot, then holds it until releaseSubmitSlot or the answer is sent. */
  readonly acquire: RequestHandler = (req, res, next) => {
    const { userId } = principalOf(req);
    const prefix = keyPrefixOf(req);
    if (prefix) this.#gate.learn(prefix, userId);
    waitForTurn(res, next, this.queue, {
      resource: 'submits',
      flow: userId,
      amount: 1,
      weight: this.#weightOf(req),
      releaseKey,
    });
  };
}

/** Gives the slot back once the job is stored and queued: a `Prefer: wait` that follows holds none. */
export function releaseSubmitSlot(res: Response): void {
  (res.locals[releaseKey] as (() => void) | undefined)?.();
}
