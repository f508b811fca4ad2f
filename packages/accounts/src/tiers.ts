/**
 * Account tiers, configured in this one place. Each user has one; changing it takes effect on
 * the user's next request.
 */
export interface Tier {
  name: string;
  /** Submissions allowed per `rateWindowSeconds`. */
  submitsPerWindow: number;
  rateWindowSeconds: number;
  /** Jobs the user may have queued or running at once. */
  maxJobsInFlight: number;
  maxUploadBytes: number;
  maxPixels: number;
  /** BullMQ priority: lower runs first. */
  priority: number;
  /** How long inputs and results are kept. */
  retentionDays: number;
}

export const tiers = {
  free: {
    name: 'free',
    submitsPerWindow: 60,
    rateWindowSeconds: 60,
    maxJobsInFlight: 200,
    maxUploadBytes: 5 * 1024 * 1024,
    maxPixels: 16_000_000,
    priority: 10,
    retentionDays: 7,
  },
  pro: {
    name: 'pro',
    submitsPerWindow: 600,
    rateWindowSeconds: 60,
    maxJobsInFlight: 2000,
    maxUploadBytes: 10 * 1024 * 1024,
    maxPixels: 40_000_000,
    priority: 1,
    retentionDays: 30,
  },
} as const satisfies Record<string, Tier>;

export type TierName = keyof typeof tiers;

export const tierNames = Object.keys(tiers) as TierName[];

export function tierOf(name: string): Tier {
  return (tiers as Record<string, Tier>)[name] ?? tiers.free;
}
