import { normalizeEmail, type AccountStore, type Principal } from './accountStore.ts';
import { tierOf, type TierTable } from './tiers.ts';
import { AppError, type AccountDeletionView, type AccountView } from '@inferq/core';
import type { JobStats } from '@inferq/db';

export interface AccountServiceOptions {
  stats: JobStats;
  /** The tier table in force. @defaultValue the built-in tiers */
  tiers?: TierTable | undefined;
  /** Users and keys, for an account's erasure. @defaultValue none: erasure is off */
  accounts?: AccountStore | undefined;
  /**
   * Deletes every job of a user with its input, result and deliveries, and takes the queued ones
   * out of the queue (JobCommands.deleteAllOf; the jobs package sits above this one).
   * @defaultValue none: erasure is off
   */
  eraseJobs?: ((userId: string) => Promise<{ count: number }>) | undefined;
}

/** The caller's own account: tier, limits and how much of them is used now; and its erasure. */
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

  /**
   * Erases the caller's account: every job with its input, result and webhook deliveries, the
   * keys, the user. `confirm` must be the account's email (any case), else 400
   * CONFIRMATION_REQUIRED and nothing changes. The user is disabled first, so the keys stop
   * before the jobs go and no submit can slip in between; a job admitted in that instant still
   * goes with the user (the foreign keys cascade).
   */
  async erase(principal: Principal, confirm: string | undefined): Promise<AccountDeletionView> {
    const { accounts, eraseJobs } = this.#options;
    if (!accounts || !eraseJobs)
      throw new Error('AccountService was built without accounts and eraseJobs: erasure is off');
    if (confirm === undefined || normalizeEmail(confirm) !== normalizeEmail(principal.email)) {
      throw new AppError(
        'CONFIRMATION_REQUIRED',
        'To delete this account and all its data, send {"confirm": "<the account\'s email>"}.',
        { details: { field: 'confirm' } },
      );
    }
    await accounts.setDisabled(principal.userId, true);
    const jobs = await eraseJobs(principal.userId);
    await accounts.deleteUser(principal.userId);
    return { userId: principal.userId, email: principal.email, jobsDeleted: jobs.count };
  }
}
