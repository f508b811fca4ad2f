import type { Principal } from './accountStore.ts';
import { tierOf, type TierTable } from './tiers.ts';
import type { AccountView } from '@inferq/core';
import type { JobStats } from '@inferq/db';

export interface AccountServiceOptions {
  stats: JobStats;
  /** The tier table in force. @defaultValue the built-in tiers */
  tiers?: TierTable | undefined;
}

/** The caller's own account: tier, limits and how much of them is used now. */
export class AccountService {
  readonly #options: AccountServiceOptions;

  constructor(options: AccountServiceOptions) {
    this.#options = options;
  }

  async describe(principal: Principal, now = new Date()): Promise<AccountView> {
    const tier = tierOf(principal.tier, this.#options.tiers);
    const since = new Date(now.getTime() - tier.rateWindowSeconds * 1000);
    const usage = await this.#options.stats.usage(principal.userId, since);
    return {
      user: { id: principal.userId, email: principal.email, role: principal.role },
      tier: {
        name: tier.name,
        submitsPerWindow: tier.submitsPerWindow,
        rateWindowSeconds: tier.rateWindowSeconds,
        maxJobsInFlight: tier.maxJobsInFlight,
        maxUploadBytes: tier.maxUploadBytes,
        maxPixels: tier.maxPixels,
        maxBatchImages: tier.maxBatchImages,
        retentionDays: tier.retentionDays,
      },
      usage: { submitsInWindow: usage.submittedSince, jobsInFlight: usage.inFlight },
    };
  }
}
