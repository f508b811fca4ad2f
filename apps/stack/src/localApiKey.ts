import type { AccountStore } from '@inferq/accounts';

/** The account `pnpm start` makes on its first run: an administrator, so the dashboard's operators' view opens too. */
export const localAdminEmail = 'admin@inferq.local';

export interface LocalApiKey {
  key: string;
  email: string;
  /** Made on this run (first run, or the saved key no longer works: another database, revoked). */
  created: boolean;
}

/**
 * The stack's API key: the saved one while it still authenticates, else a new key for the local
 * administrator (created on the first run).
 */
export async function ensureLocalApiKey(accounts: AccountStore, saved: string | undefined): Promise<LocalApiKey> {
  if (saved) {
    const principal = await accounts.authenticate(saved);
    if (principal) return { key: saved, email: principal.email, created: false };
  }
  const user =
    (await accounts.findUser(localAdminEmail)) ??
    (await accounts.createUser({
      email: localAdminEmail,
      name: 'Local administrator (pnpm start)',
      role: 'admin',
      tier: 'pro',
    }));
  const issued = await accounts.issueKey(user.id, 'pnpm start');
  return { key: issued.key, email: user.email, created: true };
}
