import type { Request, RequestHandler, Response } from 'express';
import { apiKeyPrefix } from '@inferq/accounts';
import { AppError, shareRefusal, type FairShare } from '@inferq/core';
import { principalOf } from './authenticate.ts';

const releaseKey = 'releaseSubmitSlot';
const bearerPattern = /^Bearer ([^\s]{1,200})$/;
/** Key prefixes remembered at most; past it the oldest are forgotten (they are only a shortcut). */
const maxKnownKeys = 10_000;
/** Early refusals held back at once; past it they are answered at once. */
const maxHeldRefusals = 512;

export interface SubmitSlotsOptions {
  /**
   * How long an early refusal of a user at their share is held before it is answered: what its
   * `Retry-After` asks anyway. A flood that sends again the moment it is answered then makes
   * a refusal a second per connection instead of thousands, at the cost of a timer and an idle
   * socket (its body is not read). At most 512 are held at once. @defaultValue 1000
   */
  refusalDelayMs?: number;
}

function keyPrefixOf(req: Request): string | null {
  const key = req.headers.authorization ? bearerPattern.exec(req.headers.authorization)?.[1] : undefined;
  return key ? apiKeyPrefix(key) : null;
}

/** Submissions one API process validates and stores at once unless configured otherwise. */
export const defaultMaxConcurrentSubmits = 32;

function serverBusy(): AppError {
  return new AppError('SERVER_BUSY', 'This server is handling as many submissions as it can; nothing was stored. Try again shortly.', {
    details: { resource: 'submits' },
    retryAfterSeconds: 1,
  });
}

/**
 * At most `share.capacity` submissions being processed at once in this API process (validating
 * the images, storing and enqueueing the jobs), of which one user holds at most `share.perUser`.
 * On a saturated machine the alternative is every submission slowing down together until clients
 * time out: a bounded number in progress keeps their answers fast and the rest get a quick,
 * retryable refusal. The per-user share keeps one account's burst from taking every slot: its
 * extra submissions are answered 429 CONCURRENCY_LIMITED while everyone else still gets a slot;
 * only a full process answers 503 SERVER_BUSY.
 *
 * A slot is taken once the upload has been read, so slow uploads hold none (their bytes are
 * bounded by the upload memory share instead). A server already full refuses before
 * authentication and before reading the body, and so does a user already holding their whole
 * share: the key's prefix (the public part of the key) is mapped to its user once that key has
 * authenticated, so a flood's extra submissions cost no key lookup, Redis call or parsing. A
 * request bearing someone else's prefix is refused only while that user is at their share, which
 * they would be refused for anyway; it never counts against them.
 */
export class SubmitSlots {
  readonly share: FairShare;
  /** Key prefix → user, learned from authenticated submissions. */
  readonly #users = new Map<string, string>();
  readonly #refusalDelayMs: number;
  #heldRefusals = 0;

  constructor(share: FairShare, options: SubmitSlotsOptions = {}) {
    this.share = share;
    this.#refusalDelayMs = options.refusalDelayMs ?? 1000;
  }

  get max(): number {
    return this.share.capacity;
  }

  get inProgress(): number {
    return this.share.inUse;
  }

  /** Mount first: a full server, or a known key whose user holds their whole share, is refused at once. */
  readonly refuseWhenFull: RequestHandler = (req, _res, next) => {
    if (this.share.full) return next(serverBusy());
    const prefix = keyPrefixOf(req);
    const userId = prefix ? this.#users.get(prefix) : undefined;
    const held = userId ? this.share.heldBy(userId) : 0;
    if (held < this.share.perUser) return next();
    const refusal = shareRefusal('submits', { ok: false, scope: 'user', inUse: held, limit: this.share.perUser });
    if (this.#refusalDelayMs <= 0 || this.#heldRefusals >= maxHeldRefusals) return next(refusal);
    this.#heldRefusals++;
    setTimeout(() => {
      this.#heldRefusals--;
      next(refusal);
    }, this.#refusalDelayMs).unref();
  };

  /** Mount after the upload is parsed: holds a slot until releaseSubmitSlot or the answer is sent. */
  readonly acquire: RequestHandler = (req, res, next) => {
    const { userId } = principalOf(req);
    const prefix = keyPrefixOf(req);
    if (prefix && this.#users.get(prefix) !== userId) {
      if (this.#users.size >= maxKnownKeys) this.#users.delete(this.#users.keys().next().value!);
      this.#users.set(prefix, userId);
    }
    const lease = this.share.tryAcquire(userId);
    if (!lease.ok) {
      next(lease.scope === 'global' ? serverBusy() : shareRefusal('submits', lease));
      return;
    }
    res.locals[releaseKey] = lease.release;
    res.once('close', lease.release);
    next();
  };
}

/** Gives the slot back once the job is stored and queued: a `Prefer: wait` that follows holds none. */
export function releaseSubmitSlot(res: Response): void {
  (res.locals[releaseKey] as (() => void) | undefined)?.();
}
