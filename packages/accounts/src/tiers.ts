import { z } from 'zod';
import { envJson } from '@inferq/core';

/**
 * Account tiers, configured in this one place. Each user has one; the API reads the caller's tier
 * on every request, so changing it takes effect on the user's next request.
 */
export interface Tier {
  name: string;
  /** Submissions allowed per `rateWindowSeconds` (the sustained rate). */
  submitsPerWindow: number;
  rateWindowSeconds: number;
  /** Extra submissions allowed per `burstWindowSeconds` once the sustained rate is used up. */
  submitBurst: number;
  burstWindowSeconds: number;
  /** Every other authenticated request (polls, lists, cancels) per `rateWindowSeconds`. */
  requestsPerWindow: number;
  /** Jobs the user may have queued or running at once (the quota). */
  maxJobsInFlight: number;
  /** Largest upload, in bytes; never above the API's global MAX_UPLOAD_BYTES. */
  maxUploadBytes: number;
  /** Largest width × height; never above the API's global MAX_IMAGE_PIXELS. */
  maxPixels: number;
  /** Images one `POST /v1/jobs/batch` may carry. */
  maxBatchImages: number;
  /** BullMQ priority of a user's job when they have nothing in flight: lower runs first, at least 1. */
  priority: number;
  /**
   * Added to the priority for each job the user already has in flight, so a user's k-th queued
   * job waits behind every other user's jobs with fewer in flight (fair share; see jobPriority).
   */
  priorityStep: number;
  /** How long inputs and results are kept. */
  retentionDays: number;
  /**
   * A user's weight in the API's fair queues (submit slots, upload memory, decoding, streams):
   * under contention each active user's turn is in proportion to it. Alone, any user may use the
   * whole process whatever the weight.
   */
  shareWeight: number;
}

export type TierTable = Readonly<Record<string, Tier>>;

const MiB = 1024 * 1024;

export const tiers = {
  free: {
    name: 'free',
    submitsPerWindow: 60,
    rateWindowSeconds: 60,
    submitBurst: 30,
    burstWindowSeconds: 600,
    requestsPerWindow: 600,
    maxJobsInFlight: 200,
    maxUploadBytes: 5 * MiB,
    maxPixels: 16_000_000,
    maxBatchImages: 16,
    priority: 10,
    priorityStep: 4,
    retentionDays: 7,
    shareWeight: 1,
  },
  pro: {
    name: 'pro',
    submitsPerWindow: 600,
    rateWindowSeconds: 60,
    submitBurst: 300,
    burstWindowSeconds: 600,
    requestsPerWindow: 6000,
    maxJobsInFlight: 2000,
    maxUploadBytes: 10 * MiB,
    maxPixels: 40_000_000,
    maxBatchImages: 64,
    priority: 1,
    priorityStep: 1,
    retentionDays: 30,
    shareWeight: 2,
  },
} as const satisfies Record<string, Tier>;

export type TierName = keyof typeof tiers;

export const tierNames = Object.keys(tiers) as TierName[];

/** BullMQ's largest priority (2^21); jobs above it would be refused by the queue. */
export const maxQueuePriority = 2_097_152;

const positiveInt = z.number().int().positive();

/**
 * Names a tier may not have: those of Object.prototype (`constructor`, …) and `prototype` /
 * `__proto__`. A plain-object lookup of such a name finds an inherited function, not a tier, so a
 * tier called `constructor` would have undefined limits.
 */
export function isReservedTierName(name: string): boolean {
  return name === '__proto__' || name === 'prototype' || name in Object.prototype;
}

/**
 * Changes to the built-in tiers (or whole new tiers), e.g. from the API's TIER_OVERRIDES. Unknown
 * fields and reserved names are refused, so a typo fails at start instead of making a tier
 * without limits.
 */
export const tierOverridesSchema = z
  .unknown()
  .superRefine((value, ctx) => {
    // Checked on the parsed JSON's own keys: a record schema would copy `__proto__` as a prototype.
    if (typeof value !== 'object' || value === null) return;
    for (const key of Object.keys(value)) {
      if (isReservedTierName(key))
        ctx.addIssue({ code: 'custom', path: [key], message: 'is a reserved name (Object.prototype), not a tier' });
    }
  })
  .pipe(
    z.record(
      z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a tier name is lowercase letters, digits, "_" and "-", at most 32'),
      z
        .object({
          submitsPerWindow: positiveInt,
          rateWindowSeconds: positiveInt,
          submitBurst: z.number().int().min(0),
          burstWindowSeconds: positiveInt,
          requestsPerWindow: positiveInt,
          maxJobsInFlight: positiveInt,
          maxUploadBytes: positiveInt,
          maxPixels: positiveInt,
          maxBatchImages: positiveInt,
          priority: z.number().int().min(1).max(maxQueuePriority),
          priorityStep: z.number().int().min(0),
          retentionDays: positiveInt,
          shareWeight: z.number().positive().max(1000),
        })
        .partial()
        .strict(),
    ),
  );

export type TierOverrides = z.infer<typeof tierOverridesSchema>;

/** TIER_OVERRIDES as the API and the admin CLI read it: JSON text of `tierOverridesSchema`. */
export const tierOverridesEnvSchema = envJson(tierOverridesSchema);

/**
 * The tier table: the built-in tiers with `overrides` applied field by field. A new tier name
 * starts from `free`.
 */
export function resolveTiers(overrides: TierOverrides = {}): TierTable {
  const table: Record<string, Tier> = { ...tiers };
  for (const [name, change] of Object.entries(overrides)) {
    if (isReservedTierName(name)) throw new RangeError(`"${name}" is a reserved name, not a tier`);
    const base: Tier = (Object.hasOwn(table, name) ? table[name] : undefined) ?? tiers.free;
    table[name] = { ...base, ...change, name };
  }
  return table;
}

/** The tier called `name`; an unknown name (a tier removed from the table) gets `free`. */
export function tierOf(name: string, table: TierTable = tiers): Tier {
  return (Object.hasOwn(table, name) ? table[name] : undefined) ?? table.free ?? tiers.free;
}

/**
 * The queue priority of a job whose owner already has `inFlight` jobs queued or running.
 *
 * Fair share: a user's k-th concurrent job gets `priority + k × priorityStep`, and BullMQ serves
 * lower numbers first, FIFO among equals. Among one user's unfinished jobs, at most m + 1 were
 * submitted with m or fewer in flight (each earlier one still unfinished was counted), so a job
 * submitted with m in flight waits for at most m + 1 of another same-tier user's queued jobs,
 * however many that user queued, plus the jobs workers already hold. Admission raises it to the
 * last priority among the owner's jobs still queued (admitMany), so one user's jobs keep their order.
 */
export function jobPriority(tier: Tier, inFlight: number): number {
  return Math.min(maxQueuePriority, Math.max(1, tier.priority + inFlight * tier.priorityStep));
}

/** `now` plus the tier's retention. */
export function retentionEnd(tier: Tier, now = new Date()): Date {
  return new Date(now.getTime() + tier.retentionDays * 24 * 3600 * 1000);
}
