import type { RateLimitDecision } from '@inferq/accounts';
import { AppError } from '@inferq/core';

/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers). Retry-After on a
 * refusal comes from the error (`rateLimited`), written by the error handler.
 */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  return {
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': String(decision.resetSeconds),
  };
}

export function rateLimited(decision: RateLimitDecision, message: string): AppError {
  return new AppError('RATE_LIMITED', message, {
    retryAfterSeconds: decision.retryAfterSeconds,
    details: { limit: decision.limit, retryAfterSeconds: decision.retryAfterSeconds },
  });
}
