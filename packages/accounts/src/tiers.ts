import { z } from 'zod';

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
  /** BullMQ priority of a user's job when they have nothing in flight: lower runs first, at least 1. */
  priority: number;
  /**
   * Added to the priority for each job the user already has in flight, so a user's k-th queued
   * job waits behind every other user's jobs with fewer in flight (fair share; see jobPriority).
   */
  priorityStep: number;
  /** How long inputs and results are kept. */
  retentionDays: number;
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
    priority: 10,
    priorityStep: 4,
    retentionDays: 7,
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
    priority: 1,
    priorityStep: 1,
    retentionDays: 30,
  },
} as const satisfies Record<string, Tier>;

export type TierName = keyof typeof tiers;

export const tierNames = Object.keys(tiers) as TierName[];

/** BullMQ's largest priority (2^21); jobs above it would be refused by the queue. */
export const maxQueuePriority = 2_097_152;

const positiveInt = z.number().int().positive();

/** Changes to the built-in tiers (or whole new tiers), e.g. from the API's TIER_OVERRIDES. */
export const tierOverridesSchema = z.record(
  z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
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
      priority: z.number().int().min(1).max(maxQueuePriority),
      priorityStep: z.number().int().min(0),
      retentionDays: positiveInt,
    })
    .partial()
    .strict(),
);

export type TierOverrides = z.infer<typeof tierOverridesSchema>;

/**
 * The tier table: the built-in tiers with `overrides` applied field by field. A new tier name
 * starts from `free`.
 */
export function resolveTiers(overrides: TierOverrides = {}): TierTable {
  const table: Record<string, Tier> = { ...tiers };
  for (const [name, change] of Object.entries(overrides)) {
    table[name] = { ...(table[name] ?? tiers.free), ...change, name };
  }
  return table;
}

/** The tier called `name`; an unknown name (a tier removed from the table) gets `free`. */
export function tierOf(name: string, table: TierTable = tiers): Tier {
  return table[name] ?? table.free ?? tiers.free;
}

/**
 * The queue priority of a job whose owner already has `inFlight` jobs queued or running.
 *
 * Fair share: a user's k-th concurrent job gets `priority + k × priorityStep`, and BullMQ serves
 * lower numbers first, FIFO among equals. Among one user's unfinished jobs, at most m + 1 were
 * submitted with m or fewer in flight (each earlier one still unfinished was counted), so a job
 * submitted with m in flight waits for at most m + 1 of another same-tier user's queued jobs,
 * however many that user queued, plus the jobs workers already hold.
 */
export function jobPriority(tier: Tier, inFlight: number): number {
  return Math.min(maxQueuePriority, Math.max(1, tier.priority + inFlight * tier.priorityStep));
}

/** `now` plus the tier's retention. */
export function retentionEnd(tier: Tier, now = new Date()): Date {
  return new Date(now.getTime() + tier.retentionDays * 24 * 3600 * 1000);
}
