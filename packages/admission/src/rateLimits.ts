import type { Redis } from 'ioredis';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '@inferq/core';
import { tierOf, type Tier, type TierTable } from '@inferq/accounts';

/** Which budget a request spends: submissions, or every other authenticated request. */
export type RateLimitKind = 'submit' | 'request';

/** The outcome of one request against a rate limit, ready for the IETF RateLimit headers. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Requests allowed per window (the sustained rate; burst allowance is extra). */
  limit: number;
  remaining: number;
  /** Seconds until the window starts over. */
  resetSeconds: number;
  /** Seconds to wait before trying again; 0 when allowed. */
  retryAfterSeconds: number;
}

export interface RateLimitsOptions {
  /** A producer connection: commands fail at once while Redis is down. */
  redis: Redis;
  tiers: TierTable;
  /** Prefix of every Redis key; share it between API instances. @defaultValue "inferq:rl" */
  keyPrefix?: string;
  /**
   * Failed authentications one IP address may make per window; past that, its failed attempts
   * are answered 429 instead of 401 until the window ends. A request with a valid key is never
   * counted or refused here. @defaultValue { points: 30, durationSeconds: 60 }
   */
  authFailures?: { points: number; durationSeconds: number };
  /**
   * Unauthenticated requests one IP address may make per window to the public routes (model
   * files), so one client cannot take the API from everyone else. @defaultValue { points: 300, durationSeconds: 60 }
   */
  publicRequests?: { points: number; durationSeconds: number };
}

interface Limiter {
  consume(key: string, points?: number): Promise<RateLimiterRes>;
}

/**
 * Per-user rate limits (by tier, shared by every API instance through Redis) and the per-address
 * limit on failed authentication, on rate-limiter-flexible.
 *
 * Redis unreachable: each limiter falls back to an in-memory `insuranceLimiter` with the same
 * limits, so limits keep holding per instance (at most N × the limit with N instances) instead
 * of failing open (no protection while Redis is down) or closed (polling, which needs only
 * Postgres, would stop). `rejectIfRedisNotReady` makes the fallback immediate.
 */
export class RateLimits {
  readonly #redis: Redis;
  readonly #tiers: TierTable;
  readonly #prefix: string;
  readonly #limiters = new Map<string, Limiter>();
  readonly #authFailures: RateLimiterRedis;
  readonly #authFailurePoints: number;
  readonly #publicRequests: RateLimiterRedis;
  readonly #publicPoints: number;

  constructor(options: RateLimitsOptions) {
    this.#redis = options.redis;
    this.#tiers = options.tiers;
    this.#prefix = options.keyPrefix ?? 'inferq:rl';
    const auth = options.authFailures ?? { points: 30, durationSeconds: 60 };
    this.#authFailurePoints = auth.points;
    this.#authFailures = this.#redisLimiter('authfail', auth.points, auth.durationSeconds);
    const publicRequests = options.publicRequests ?? { points: 300, durationSeconds: 60 };
    this.#publicPoints = publicRequests.points;
    this.#publicRequests = this.#redisLimiter('public', publicRequests.points, publicRequests.durationSeconds);
  }

  #redisLimiter(kind: string, points: number, durationSeconds: number): RateLimiterRedis {
    return new RateLimiterRedis({
      storeClient: this.#redis,
      keyPrefix: `${this.#prefix}:${kind}`,
      points,
      duration: durationSeconds,
      rejectIfRedisNotReady: true,
      // Once a key is over its limit, refuse it from memory until the window ends: a flood of
      // refused requests costs no Redis round trip. Other instances learn it from Redis.
      inMemoryBlockOnConsumed: points + 1,
      insuranceLimiter: new RateLimiterMemory({
        keyPrefix: `${this.#prefix}:${kind}`,
        points,
        duration: durationSeconds,
      }),
    });
  }

  /** One limiter per tier and kind, built on first use; all tiers share the per-user counters. */
  #limiterFor(tier: Tier, kind: RateLimitKind): Limiter {
    const name = `${tier.name}:${kind}`;
    let limiter = this.#limiters.get(name);
    if (!limiter) {
      if (kind === 'submit') {
        const sustained = this.#redisLimiter('submit', tier.submitsPerWindow, tier.rateWindowSeconds);
        limiter =
          tier.submitBurst > 0
            ? new BurstyRateLimiter(
                sustained,
                this.#redisLimiter('submit-burst', tier.submitBurst, tier.burstWindowSeconds),
              )
            : sustained;
      } else {
        limiter = this.#redisLimiter('request', tier.requestsPerWindow, tier.rateWindowSeconds);
      }
      this.#limiters.set(name, limiter);
    }
    return limiter;
  }

  /** Spends `points` units of the user's `kind` budget under their current tier (a batch of n images spends n). */
  async consume(userId: string, tierName: string, kind: RateLimitKind, points = 1): Promise<RateLimitDecision> {
    const tier = tierOf(tierName, this.#tiers);
    const limit = kind === 'submit' ? tier.submitsPerWindow : tier.requestsPerWindow;
    try {
      const res = await this.#limiterFor(tier, kind).consume(userId, points);
      return decision(true, limit, res);
    } catch (error) {
      if (error instanceof RateLimiterRes) return decision(false, limit, error);
      throw error;
    }
  }

  /** Spends one unit of an address's budget for the public (unauthenticated) routes. */
  async consumePublic(address: string): Promise<RateLimitDecision> {
    try {
      return decision(true, this.#publicPoints, await this.#publicRequests.consume(address));
    } catch (error) {
      if (error instanceof RateLimiterRes) return decision(false, this.#publicPoints, error);
      throw error;
    }
  }

  /**
   * Counts a failed authentication against the address and says whether it is still under its
   * limit: the caller answers 401 while it is, 429 past it. Only failures are counted, so an
   * address's failures never refuse a valid key from it (the NAT or office egress it shares with
   * an attacker). Once over, the address is refused from memory until the window ends: a flood
   * of failures costs no Redis round trip.
   */
  async recordAuthFailure(address: string): Promise<RateLimitDecision> {
    try {
      return decision(true, this.#authFailurePoints, await this.#authFailures.consume(address));
    } catch (error) {
      if (error instanceof RateLimiterRes) return decision(false, this.#authFailurePoints, error);
      throw error;
    }
  }
}

function seconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000));
}

function decision(allowed: boolean, limit: number, res: RateLimiterRes): RateLimitDecision {
  const resetSeconds = seconds(res.msBeforeNext);
  return {
    allowed,
    limit,
    remaining: allowed ? Math.min(limit, res.remainingPoints) : 0,
    resetSeconds,
    retryAfterSeconds: allowed ? 0 : Math.max(1, resetSeconds),
  };
}

/** A refused decision as the error it is answered with: 429 RATE_LIMITED, with when to try again. */
export function rateLimited(decision: RateLimitDecision, message: string): AppError {
  return new AppError('RATE_LIMITED', message, {
    retryAfterSeconds: decision.retryAfterSeconds,
    details: { limit: decision.limit, retryAfterSeconds: decision.retryAfterSeconds },
  });
}
