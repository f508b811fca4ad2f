import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '@inferq/core';
import type { AccountStore, Principal, RateLimits } from '@inferq/accounts';
import { rateLimitHeaders, rateLimited } from './rateLimitHeaders.ts';

declare global {
  namespace Express {
    interface Request {
      /** The caller, set by `authenticate`. */
      principal?: Principal;
    }
  }
}

const bearerPattern = /^Bearer ([^\s]{1,200})$/;

export interface AuthenticateOptions {
  /**
   * Limits failed authentications per client address: an address over its limit is refused
   * with 429 before any key lookup, so a key-guessing flood costs one Redis read per request.
   */
  addressLimits?: RateLimits;
}

/** Requires `Authorization: Bearer <key>`; every failure is the same 401 with no hint why. */
export function authenticate(accounts: AccountStore, options: AuthenticateOptions = {}): RequestHandler {
  const limits = options.addressLimits;
  return async (req, res, next) => {
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    if (limits) {
      const decision = await limits.checkAddress(address);
      if (!decision.allowed) {
        res.set(rateLimitHeaders(decision));
        next(rateLimited(decision, `Too many failed authentications from this address; retry in ${decision.retryAfterSeconds} s.`));
        return;
      }
    }
    const header = req.headers.authorization;
    const key = header ? bearerPattern.exec(header)?.[1] : undefined;
    const principal = key ? await accounts.authenticate(key) : null;
    if (!principal) {
      await limits?.recordAuthFailure(address);
      res.set('WWW-Authenticate', 'Bearer');
      next(new AppError('UNAUTHENTICATED', 'A valid API key is required: Authorization: Bearer <key>.'));
      return;
    }
    req.principal = principal;
    req.log?.setBindings?.({ userId: principal.userId });
    next();
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
