import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  addressFlowPrefix,
  EntryLine,
  keyFlowPrefix,
  FairQueueRefusal,
  refusalAnswer,
  SubmitGate,
  shareRefusal,
  type FairQueue,
} from '@inferq/admission';
import { apiKeyPrefix, hashApiKey } from '@inferq/accounts';
import { principalOf } from './authenticate.ts';
import { queueTurn, waitForTurn } from './fairTurn.ts';

const releaseKey = 'releaseSubmitSlot';
const entryKey = 'leaveSubmitEntry';
const keyHashKey = 'submitKeyHash';
const bearerPattern = /^Bearer ([^\s]{1,200})$/i;
/** Early refusals held back at once; past it they are answered at once. */
const maxHeldRefusals = 512;

export interface SubmitSlotsOptions {
  /**
   * The door in front of the slots: how many of one user's submissions are past it at once.
   * @defaultValue an EntryLine with its defaults (8 per user)
   */
  entry?: EntryLine;
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

function bearerKeyOf(req: Request): string | undefined {
  return req.headers.authorization ? bearerPattern.exec(req.headers.authorization)?.[1] : undefined;
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
 * bounded by the upload memory queue instead). Before that, a submission passes a door
 * ({@link EntryLine}, mounted first with {@link enter}): at most a few of each user's submissions
 * are authenticated and read at once, the rest wait unread in their user's line. A user whose
 * line or queues are full is refused before authentication and before reading the body
 * ({@link SubmitGate}, which decides; this middleware reads the key's prefix from the request
 * and holds the refusal back).
 *
 * At the door a request is known by its key alone: a key seen to authenticate counts as its
 * user's (by the key's hash, so a request must bear the whole key to count as anyone's), a key
 * not seen yet as itself, and a request with no key as its client address's.
 */
export class SubmitSlots {
  readonly queue: FairQueue;
  readonly entry: EntryLine;
  readonly #gate: SubmitGate;
  readonly #refusalDelayMs: number;
  readonly #weightOf: (req: Request) => number;
  #heldRefusals = 0;

  constructor(queue: FairQueue, options: SubmitSlotsOptions = {}) {
    this.queue = queue;
    this.entry = options.entry ?? new EntryLine({ maxWaitMs: queue.maxWaitMs });
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

  /**
   * Mount first: a known key whose user's queues are full is refused at once; otherwise the
   * request waits its turn at the door, unread, while its user already has the most past it.
   */
  readonly enter: RequestHandler = (req, res, next) => {
    const key = bearerKeyOf(req);
    const keyHash = key === undefined ? undefined : hashApiKey(key);
    // Kept for acquire, which learns the key's user once it has authenticated.
    res.locals[keyHashKey] = keyHash;
    const flow =
      keyHash === undefined
        ? `${addressFlowPrefix}${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`
        : (this.#gate.userOfKey(keyHash) ?? `${keyFlowPrefix}${keyHash}`);
    const refusal =
      this.#gate.refusalFor(key ? apiKeyPrefix(key) : null) ??
      (this.entry.wouldRefuse(flow)
        ? shareRefusal(
            'submits',
            new FairQueueRefusal('user', 'queue-full', this.entry.insideOf(flow), this.entry.perFlow),
          )
        : undefined);
    if (refusal) return this.#holdRefusal(refusal, next);
    waitForTurn(
      res,
      next,
      (signal) =>
        this.entry.enter(flow, signal).catch((error: unknown) => {
          throw refusalAnswer('submits', error);
        }),
      entryKey,
    );
  };

  /** Mount after the upload is parsed: waits for a slot, then holds it until releaseSubmitSlot or the answer is sent. */
  readonly acquire: RequestHandler = (req, res, next) => {
    const { userId } = principalOf(req);
    const key = bearerKeyOf(req);
    if (key) {
      const prefix = apiKeyPrefix(key);
      if (prefix) this.#gate.learn(prefix, userId);
      this.#gate.learnKey((res.locals[keyHashKey] as string | undefined) ?? hashApiKey(key), userId);
    }
    const turnCame: NextFunction = (error?: unknown) => {
      // Its turn came (or was refused): the next of its user's submissions may come in.
      (res.locals[entryKey] as (() => void) | undefined)?.();
      next(error);
    };
    waitForTurn(
      res,
      turnCame,
      queueTurn(this.queue, { resource: 'submits', flow: userId, amount: 1, weight: this.#weightOf(req) }),
      releaseKey,
    );
  };

  #holdRefusal(refusal: Error, next: (error: unknown) => void): void {
    if (this.#refusalDelayMs <= 0 || this.#heldRefusals >= maxHeldRefusals) return next(refusal);
    this.#heldRefusals++;
    setTimeout(() => {
      this.#heldRefusals--;
      next(refusal);
    }, this.#refusalDelayMs).unref();
  }
}

/** Gives the slot back once the job is stored and queued: a `Prefer: wait` that follows holds none. */
export function releaseSubmitSlot(res: Response): void {
  (res.locals[releaseKey] as (() => void) | undefined)?.();
}
