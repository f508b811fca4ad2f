import type { RateLimitDecision } from '@inferq/admission';

/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers). Retry-After on a
 * refusal comes from the error (`rateLimited` in @inferq/admission), written by the error handler.
 */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  return {
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': String(decision.resetSeconds),
  };
}
