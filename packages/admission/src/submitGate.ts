import type { AppError } from '@inferq/core';
import { FairQueueRefusal, shareRefusal, type FairQueue } from './fairQueue.ts';

/** Keys (prefixes, and hashes for the door) remembered at most; past it the oldest are forgotten (they are only a shortcut). */
const maxKnownKeys = 10_000;

/**
 * The early refusal of the submit slots: a user whose every fair queue is full is refused before
 * authentication and before a byte of the body is read. The key's prefix (its public part) is
 * mapped to its user once that key has authenticated, so a flood's extra submissions cost no key
 * lookup, Redis call or parsing. A request bearing someone else's prefix is refused only while
 * that user's queues are full, which they would be refused for anyway; it never counts against
 * them.
 */
export class SubmitGate {
  readonly queue: FairQueue;
  /** Key prefix → user, learned from authenticated submissions. */
  readonly #users = new Map<string, string>();
  /** Whole key's hash → user, learned likewise: who a request is at the submit slots' door. */
  readonly #keyUsers = new Map<string, string>();

  constructor(queue: FairQueue) {
    this.queue = queue;
  }

  /** Remembers that a key with `keyPrefix` authenticated as `userId`. */
  learn(keyPrefix: string, userId: string): void {
    remember(this.#users, keyPrefix, userId);
  }

  /** Remembers that the key whose hash is `keyHash` authenticated as `userId`. */
  learnKey(keyHash: string, userId: string): void {
    remember(this.#keyUsers, keyHash, userId);
  }

  /** The user of the key whose hash is `keyHash`, once it has authenticated here. */
  userOfKey(keyHash: string): string | undefined {
    return this.#keyUsers.get(keyHash);
  }

  /** The refusal for a submit bearing `keyPrefix` when its known user's queues are full; undefined lets it in. */
  refusalFor(keyPrefix: string | null): AppError | undefined {
    const userId = keyPrefix ? this.#users.get(keyPrefix) : undefined;
    if (!userId || !this.queue.wouldRefuse(userId)) return undefined;
    return shareRefusal(
      'submits',
      new FairQueueRefusal('user', 'queue-full', this.queue.heldBy(userId), this.queue.capacity),
    );
  }
}

/** Sets `key` in a map of at most maxKnownKeys, forgetting the oldest first. */
function remember(map: Map<string, string>, key: string, userId: string): void {
  if (map.get(key) === userId) return;
  if (map.size >= maxKnownKeys) map.delete(map.keys().next().value!);
  map.set(key, userId);
}
