import type { Request, RequestHandler } from 'express';
import { rateLimited, type RateLimitKind, type RateLimits } from '@inferq/admission';
import { principalOf } from './authenticate.ts';
import { rateLimitHeaders } from './rateLimitHeaders.ts';

/**
 * Spends one unit of the caller's per-user budget (by tier, shared by all API instances through
 * Redis) and answers 429 RATE_LIMITED when it is used up. The RateLimit headers go on every
 * answer. Mount it after `authenticate` and before any body parsing, so a refused upload is
 * never read into memory.
 */
export function rateLimit(limits: RateLimits, kindOf: (req: Request) => RateLimitKind): RequestHandler {
  return async (req, res, next) => {
    const principal = principalOf(req);
    const decision = await limits.consume(principal.userId, principal.tier, kindOf(req));
    res.set(rateLimitHeaders(decision));
    if (!decision.allowed) {
      next(rateLimited(decision, `Rate limit reached; retry in ${decision.retryAfterSeconds} s.`));
      return;
    }
    next();
  };
}

/**
 * The per-address budget of the public routes (model files), keyed on `req.ip`: one client's
 * download flood is refused with 429 before it costs a file read, and other clients are not
 * slowed. Take `trust proxy` as documented, or every client behind a proxy shares one budget.
 */
export function addressRateLimit(limits: RateLimits): RequestHandler {
  return async (req, res, next) => {
    const decision = await limits.consumePublic(req.ip ?? req.socket.remoteAddress ?? 'unknown');
    res.set(rateLimitHeaders(decision));
    if (!decision.allowed) {
      next(rateLimited(decision, `Too many requests from this address; retry in ${decision.retryAfterSeconds} s.`));
      return;
    }
    next();
  };
}
