import { jobPriority, type Tier } from '@inferq/accounts';
import { AppError } from '@inferq/core';
import type { InFlightLimit } from '@inferq/db';

/**
 * The in-flight quota a tier holds a user's submits to: at most `maxJobsInFlight` jobs queued or
 * running at once, each new one's queue priority lowered by the jobs its owner already has in
 * flight. Decided here; applied atomically where the rows are written (`JobAdmission.admitMany`
 * in `@inferq/db` counts and inserts under the owner's advisory lock, job by job in order), so the
 * quota holds across API instances.
 */
export function inFlightLimit(tier: Tier, idempotencyWindowMs: number): InFlightLimit {
  return {
    maxInFlight: tier.maxJobsInFlight,
    priorityFor: (inFlight) => jobPriority(tier, inFlight),
    idempotencyWindowMs,
  };
}

/** The answer to a submit past its owner's quota: 429 QUOTA_EXCEEDED, with the counts. */
export function quotaExceeded(tier: Tier, counts: { inFlight: number; maxInFlight: number }): AppError {
  return new AppError(
    'QUOTA_EXCEEDED',
    `You have ${counts.inFlight} jobs queued or running; the ${tier.name} tier allows ${counts.maxInFlight} at once. Submit again when some finish, or cancel some.`,
    { details: { inFlight: counts.inFlight, maxInFlight: counts.maxInFlight, tier: tier.name } },
  );
}
