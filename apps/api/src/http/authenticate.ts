import { createHash, timingSafeEqual } from 'node:crypto';
import { rateLimited, type RateLimits } from '@inferq/admission';
import type { RequestHandler } from 'express';
import { AppError } from '@inferq/core';
import type { AccountStore, Principal } from '@inferq/accounts';
import { rateLimitHeaders } from './rateLimitHeaders.ts';

declare global {
  namespace Express {
    interface Request {
      /** The caller, set by `authenticate`. */
      principal?: Principal;
    }
  }
}

/** `Bearer <token>`; the scheme name is case-insensitive (RFC 7235 §2.1, RFC 6750 §2.1). */
const bearerPattern = /^bearer +([^\s]{1,200})$/i;

export interface AuthenticateOptions {
  /**
   * Limits failed authentications per client address: past the limit, that address's failed
   * attempts are answered 429 instead of 401 (refused from memory, no Redis round trip). A valid
   * key is never refused here. @defaultValue none: failures are not counted
   */
  addressLimits?: RateLimits;
}

/**
 * Requires `Authorization: Bearer <key>`; every failure is the same 401 with no hint why.
 *
 * The key is looked up first, and the address's failure count is touched only by a failure, so
 * a valid key passes whatever its address did: an attacker who shares an address with users (a
 * NAT, an office egress) cannot lock them out, and they are held only to their own per-user
 * limits. Only failures are counted and refused. That leaves a locked-out address able to try keys, each try
 * costing one indexed lookup by the key's prefix (the cost of any request), and that is enough:
 * a key carries a 256-bit random secret, so even 10^12 guesses a second for the age of the
 * universe (about 2^98 guesses) find one with a probability near 2^-158. The failure limit is
 * there to shed noise and the cost of keyless floods, not to protect the key space.
 */
export function authenticate(accounts: AccountStore, options: AuthenticateOptions = {}): RequestHandler {
  const limits = options.addressLimits;
  return async (req, res, next) => {
    const header = req.headers.authorization;
    const key = header ? bearerPattern.exec(header)?.[1] : undefined;
    const principal = key ? await accounts.authenticate(key) : null;
    if (principal) {
      req.principal = principal;
      req.log?.setBindings?.({ userId: principal.userId });
      next();
      return;
    }
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const decision = await limits?.recordAuthFailure(address);
    if (decision && !decision.allowed) {
      res.set(rateLimitHeaders(decision));
      next(
        rateLimited(
          decision,
          `Too many failed authentications from this address; retry in ${decision.retryAfterSeconds} s.`,
        ),
      );
      return;
    }
    res.set('WWW-Authenticate', 'Bearer');
    next(new AppError('UNAUTHENTICATED', 'A valid API key is required: Authorization: Bearer <key>.'));
  };
}

export const requireAdmin: RequestHandler = (req, _res, next) => {
  if (req.principal?.role !== 'admin') {
    next(new AppError('FORBIDDEN', 'This route is for administrators.'));
    return;
  }
  next();
};

/** The authenticated caller; only for routes behind `authenticate`. */
export function principalOf(req: Express.Request): Principal {
  if (!req.principal) throw new AppError('UNAUTHENTICATED', 'A valid API key is required.');
  return req.principal;
}

/**
 * `Authorization: Bearer <token>` for /metrics when a token is configured (compared in constant
 * time); without one the route stays open, for a scraper on a private network.
 */
export function requireMetricsToken(token: string | undefined): RequestHandler {
  if (!token) return (_req, _res, next) => next();
  const expected = createHash('sha256').update(token).digest();
  return (req, res, next) => {
    const given = bearerPattern.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(createHash('sha256').update(given).digest(), expected)) {
      res.set('WWW-Authenticate', 'Bearer');
      next(new AppError('UNAUTHENTICATED', 'The metrics token is required: Authorization: Bearer <METRICS_TOKEN>.'));
      return;
    }
    next();
  };
}
