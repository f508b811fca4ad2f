import type { RateLimitDecision } from '@inferq/accounts';
import { AppError } from '@inferq/core';

/** The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers), plus Retry-After on refusal. */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': String(decision.resetSeconds),
  };
  if (!decision.allowed) headers['Retry-After'] = String(decision.retryAfterSeconds);
  return headers;
}

export function rateLimited(decision: RateLimitDecision, message: string): AppError {
  return new AppError('RATE_LIMITED', message, {
    headers: rateLimitHeaders(decision),
    details: { limit: decision.limit, retryAfterSeconds: decision.retryAfterSeconds },
  });
}
