import { AppError } from './errors.ts';

/**
 * A resource of one process (submit slots, buffered upload bytes, decode pixels, event streams)
 * shared between users: `capacity` units in all, of which one user holds at most `perUser`.
 *
 * The per-user share is what keeps one account's flood from refusing everybody else: however many
 * requests a user sends, they hold at most `perUser` units, so while fewer than
 * `capacity / perUser` users are at their share, a new user always finds room.
 *
 * One request bigger than a whole share (a 40 MP image against a 30 MP share) is let through when
 * its user holds nothing, and one bigger than the capacity when nothing at all is held: it may
 * then run alone, rather than never.
 */
export interface FairShareOptions {
  /** Units the process has in all. */
  capacity: number;
  /** Units one user may hold at once. @defaultValue a quarter of `capacity` (at least 1) */
  perUser?: number;
}

/** A successful acquire: call `release` once the units are no longer held (calling it again does nothing). */
export interface FairShareLease {
  ok: true;
  amount: number;
  release(): void;
}

/** A refused acquire: `global` when the process is full, else `user` when the caller's own share is used up. */
export interface FairShareRefusal {
  ok: false;
  scope: 'user' | 'global';
  /** Units the caller (`user`) or everyone (`global`) holds now. */
  inUse: number;
  /** The caller's share (`user`) or the capacity (`global`). */
  limit: number;
}

export class FairShare {
  readonly capacity: number;
  readonly perUser: number;
  #inUse = 0;
  readonly #byUser = new Map<string, number>();

  constructor(options: FairShareOptions) {
    const perUser = options.perUser ?? Math.max(1, Math.floor(options.capacity / 4));
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1) throw new RangeError('capacity must be an integer >= 1');
    if (!Number.isSafeInteger(perUser) || perUser < 1 || perUser > options.capacity) throw new RangeError('perUser must be an integer from 1 to capacity');
    this.capacity = options.capacity;
    this.perUser = perUser;
  }

  /** Units held now, by everyone. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Units `userId` holds now. */
  heldBy(userId: string): number {
    return this.#byUser.get(userId) ?? 0;
  }

  /** Users holding anything now. */
  get users(): number {
    return this.#byUser.size;
  }

  /** Whether the process is full: a request of any size would be refused (for refusals that cost nothing, before authentication). */
  get full(): boolean {
    return this.#inUse >= this.capacity;
  }

  /** Takes `amount` units for `userId` now, or says why not; never waits. */
  tryAcquire(userId: string, amount = 1): FairShareLease | FairShareRefusal {
    if (!Number.isFinite(amount) || amount < 0) throw new RangeError('amount must be a finite number >= 0');
    const held = this.heldBy(userId);
    // A full process first: then the answer is the same for everyone (503), whoever holds it.
    if (this.#inUse > 0 && this.#inUse + amount > this.capacity) return { ok: false, scope: 'global', inUse: this.#inUse, limit: this.capacity };
    if (held > 0 && held + amount > this.perUser) return { ok: false, scope: 'user', inUse: held, limit: this.perUser };
    this.#inUse += amount;
    this.#byUser.set(userId, held + amount);
    let active = true;
    return {
      ok: true,
      amount,
      release: () => {
        if (!active) return;
        active = false;
        this.#inUse -= amount;
        const left = this.heldBy(userId) - amount;
        if (left > 0) this.#byUser.set(userId, left);
        else this.#byUser.delete(userId);
      },
    };
  }
}

/** The resources of an API process that users hold shares of; `details.resource` of a refusal. */
export type ShareResource = 'submits' | 'uploadBytes' | 'decodePixels' | 'streams';

const resourceWords: Record<ShareResource, string> = {
  submits: 'submissions in progress',
  uploadBytes: 'upload bytes held in memory',
  decodePixels: 'image pixels being decoded',
  streams: 'live event streams',
};

/**
 * The answer to a refused share: 429 CONCURRENCY_LIMITED when the caller holds their whole share
 * (their own requests are what they wait for), 503 SERVER_BUSY when the process is full. Both say
 * nothing was stored and carry `Retry-After`.
 */
export function shareRefusal(resource: ShareResource, refusal: FairShareRefusal, retryAfterSeconds = 1): AppError {
  const details = { resource, inUse: refusal.inUse, limit: refusal.limit };
  if (refusal.scope === 'user') {
    return new AppError('CONCURRENCY_LIMITED', `You hold your whole share of this server's ${resourceWords[resource]} (${refusal.limit}); nothing was stored. Try again when your earlier requests are answered.`, { details, retryAfterSeconds });
  }
  return new AppError('SERVER_BUSY', `This server's ${resourceWords[resource]} are all in use; nothing was stored. Try again shortly.`, { details, retryAfterSeconds });
}
