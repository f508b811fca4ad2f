import type { Redis } from 'ioredis';
import { evalCached } from '@inferq/queue';

export interface LeaderLockOptions {
  /** A producer connection: a lock that cannot be reached is simply not held. */
  connection: Redis;
  key: string;
  /** Who holds it (the worker id); only the holder can renew or release it. */
  owner: string;
  /** The lock lapses this long after the last renewal, so a dead holder is replaced. */
  ttlMs: number;
}

// Take the lock if free, renew it if ours: one script, so two workers never both win.
const acquireScript = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * A single-instance Redis lease (SET NX PX with an owner token) electing one process among the
 * workers to run periodic housekeeping. It is advisory: the work it guards is idempotent, so two
 * holders overlapping for a moment (a paused holder whose lease ran out) costs only duplicate
 * no-op work, which is why no multi-node Redlock is needed here.
 */
export class LeaderLock {
  readonly #options: LeaderLockOptions;

  constructor(options: LeaderLockOptions) {
    this.#options = options;
  }

  /** Takes or renews the lease; false when another owner holds it or Redis does not answer. */
  async acquire(): Promise<boolean> {
    const { connection, key, owner, ttlMs } = this.#options;
    try {
      return (await evalCached(connection, acquireScript, 1, key, owner, String(ttlMs))) === 1;
    } catch {
      return false;
    }
  }

  /** Gives the lease up if this owner holds it, so another worker can take over at once. */
  async release(): Promise<void> {
    const { connection, key, owner } = this.#options;
    await evalCached(connection, releaseScript, 1, key, owner).catch(() => {});
  }
}
