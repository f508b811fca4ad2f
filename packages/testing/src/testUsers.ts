import { randomUUID } from 'node:crypto';
import { AccountStore, tierNames, type Role } from '@inferq/accounts';
import { createDatabase } from '@inferq/db';

export interface TestUser {
  userId: string;
  email: string;
  key: string;
  keyId: string;
  /** `{ authorization: 'Bearer …' }` */
  headers: Record<string, string>;
}

/** Creates a user with a fresh key straight in the database (as the admin CLI does). */
export async function createTestUser(
  databaseUrl: string,
  options: { tier?: string; role?: Role } = {},
): Promise<TestUser> {
  const db = createDatabase({ url: databaseUrl, poolSize: 1 });
  try {
    const accounts = new AccountStore(db, { tiers: tierNames });
    const user = await accounts.createUser({
      email: `user-${randomUUID()}@test.inferq`,
      tier: options.tier ?? 'free',
      role: options.role ?? 'user',
    });
    const issued = await accounts.issueKey(user.id, 'test');
    return {
      userId: user.id,
      email: user.email,
      key: issued.key,
      keyId: issued.id,
      headers: { authorization: `Bearer ${issued.key}` },
    };
  } finally {
    await db.$disconnect();
  }
}
