import { randomBytes, randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { AppError, isUuid } from '@inferq/core';
import { sqlPool, type Database } from '@inferq/db';
import { apiKeyMatches, apiKeyPrefix, generateApiKey, hashApiKey, unknownKeyHash } from './apiKeys.ts';
import type { PrincipalCache } from './principalCache.ts';
import { SecretBox } from './secretBox.ts';

export type Role = 'user' | 'admin';

/** `whsec_` and 192 random bits in standard base64, as Standard Webhooks libraries read a secret. */
function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/**
 * Emails are stored and looked up in lower case, so `X@Example.com` and `x@example.com` are one
 * account (a CHECK constraint holds the column to it; migration emails_lower_case).
 */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

const keyPrefixPattern = /^iq_[0-9a-f]{12}$/;

/** A key's id or prefix as a where clause; null for anything else (never a query that must fail). */
function keyWhere(idOrPrefix: string): { prefix: string } | { id: string } | null {
  if (keyPrefixPattern.test(idOrPrefix)) return { prefix: idOrPrefix };
  return isUuid(idOrPrefix) ? { id: idOrPrefix } : null;
}

/** Who is calling: the owner of the presented key. */
export interface Principal {
  userId: string;
  email: string;
  role: Role;
  tier: string;
  keyId: string;
}

export interface NewUser {
  email: string;
  name?: string | undefined;
  role?: Role | undefined;
  tier?: string | undefined;
}

export interface IssuedKey {
  id: string;
  /** Shown once. */
  key: string;
  prefix: string;
  userId: string;
}

export interface AccountStoreOptions {
  /** The tier names a user may be given. */
  tiers: Iterable<string>;
  /**
   * Reuse the principals of keys seen recently (see PrincipalCache; an AccountChanges must keep
   * it informed). @defaultValue none: every authentication reads Postgres
   */
  principals?: PrincipalCache | undefined;
  /**
   * How webhook signing secrets are stored (WEBHOOK_SECRET_KEYS).
   * @defaultValue a SecretBox without keys: stored in clear, as development allows
   */
  secrets?: SecretBox | undefined;
  /**
   * `api_keys.last_used_at` is written at most once per this many milliseconds per key (by this
   * process, and by any process: the update skips a row written more recently), so a busy key
   * costs a write a minute, not one per request. @defaultValue 60000
   */
  lastUsedIntervalMs?: number;
}

/** Users and API keys. Knows nothing of HTTP. */
export class AccountStore {
  readonly #db: Database;
  readonly #tiers: ReadonlySet<string>;
  readonly #principals: PrincipalCache | undefined;
  readonly #lastUsedIntervalMs: number;
  /** Keys whose last use this process wrote within the interval. */
  readonly #recentlyUsed: LRUCache<string, true>;
  readonly #secrets: SecretBox;

  constructor(db: Database, options: AccountStoreOptions) {
    this.#db = db;
    this.#tiers = new Set(options.tiers);
    this.#principals = options.principals;
    this.#lastUsedIntervalMs = options.lastUsedIntervalMs ?? 60_000;
    this.#recentlyUsed = new LRUCache({ max: 100_000, ttl: Math.max(1, this.#lastUsedIntervalMs) });
    this.#secrets = options.secrets ?? new SecretBox();
  }

  /** Whether webhook secrets are stored encrypted (a key is configured). */
  get encryptsWebhookSecrets(): boolean {
    return this.#secrets.encrypting;
  }

  #checkTier(tier: string): void {
    if (!this.#tiers.has(tier)) {
      throw new AppError('VALIDATION_FAILED', `Unknown tier "${tier}".`, { details: { tiers: [...this.#tiers] } });
    }
  }

  async createUser(user: NewUser) {
    const tier = user.tier ?? 'free';
    this.#checkTier(tier);
    const email = normalizeEmail(user.email);
    const existing = await this.#db.user.findUnique({ where: { email } });
    if (existing) throw new AppError('CONFLICT', `A user with the email ${email} exists already.`);
    // The id is chosen here: it is what the stored secret is sealed to.
    const id = randomUUID();
    return this.#db.user.create({
      data: {
        id,
        email,
        name: user.name ?? null,
        role: user.role ?? 'user',
        tier,
        webhookSecret: this.#secrets.seal(newWebhookSecret(), id),
      },
    });
  }

  /** A user by id or email (any case); null for no such user, or a string that is neither. */
  async findUser(idOrEmail: string) {
    if (idOrEmail.includes('@')) return this.#db.user.findUnique({ where: { email: normalizeEmail(idOrEmail) } });
    return isUuid(idOrEmail) ? this.#db.user.findUnique({ where: { id: idOrEmail } }) : null;
  }

  /** The secret that signs this user's webhook deliveries; null for an unknown user. */
  async webhookSecret(userId: string): Promise<string | null> {
    const user = await this.#db.user.findUnique({ where: { id: userId }, select: { id: true, webhookSecret: true } });
    return user ? this.#secrets.open(user.webhookSecret, user.id) : null;
  }

  /** Replaces the webhook secret; deliveries signed from now on use the new one. */
  async rotateWebhookSecret(userId: string): Promise<string> {
    const secret = newWebhookSecret();
    await this.#db.user.update({
      where: { id: userId },
      data: { webhookSecret: this.#secrets.seal(secret, userId) },
      select: { id: true },
    });
    return secret;
  }

  /**
   * Stores every webhook secret as `seal` makes it now: secrets in clear or sealed with an older
   * key are sealed with the current one (after a key is added, or first configured). Safe beside
   * running processes: a row is only replaced if it still holds what was read, and every
   * configured key still opens the old form meanwhile. Returns how many rows were rewritten.
   * @param options.userIds - only these users' secrets. @defaultValue every user
   */
  async reencryptWebhookSecrets(
    options: { userIds?: readonly string[] } = {},
  ): Promise<{ reencrypted: number; users: number }> {
    let reencrypted = 0;
    let users = 0;
    let after: string | undefined;
    const only = options.userIds ? { id: { in: [...options.userIds] } } : {};
    for (;;) {
      const page = await this.#db.user.findMany({
        select: { id: true, webhookSecret: true },
        orderBy: { id: 'asc' },
        take: 500,
        where: after ? { AND: [only, { id: { gt: after } }] } : only,
      });
      if (page.length === 0) break;
      users += page.length;
      for (const user of page) {
        if (this.#secrets.isCurrent(user.webhookSecret)) continue;
        const sealed = this.#secrets.seal(this.#secrets.open(user.webhookSecret, user.id), user.id);
        const { count } = await this.#db.user.updateMany({
          where: { id: user.id, webhookSecret: user.webhookSecret },
          data: { webhookSecret: sealed },
        });
        reencrypted += count;
      }
      after = page[page.length - 1]!.id;
    }
    return { reencrypted, users };
  }

  async listUsers() {
    return this.#db.user.findMany({ orderBy: { createdAt: 'asc' } });
  }

  async setTier(userId: string, tier: string) {
    this.#checkTier(tier);
    const user = await this.#db.user.update({ where: { id: userId }, data: { tier } });
    // Other processes hear of it from the trigger's notification; this one knows now.
    this.#principals?.clear();
    return user;
  }

  /**
   * Disables a user (every key of theirs stops on its next request, here at once and in other
   * processes once the change notification reaches them), or enables them again. Their jobs and
   * data stay; a disabled user's queued jobs still run. Returns the user, or null for no such user.
   */
  async setDisabled(userId: string, disabled: boolean) {
    // Disabling again keeps the first time it was disabled.
    await this.#db.user.updateMany({
      where: { id: userId, disabledAt: disabled ? null : { not: null } },
      data: { disabledAt: disabled ? new Date() : null },
    });
    this.#principals?.clear();
    return this.#db.user.findUnique({ where: { id: userId } });
  }

  /**
   * Deletes a user and their keys (and any job row still theirs: the foreign keys cascade).
   * Erase their jobs first with JobCommands.deleteAllOf, which also empties the queue of them.
   * Returns whether the user existed.
   */
  async deleteUser(userId: string): Promise<boolean> {
    const { count } = await this.#db.user.deleteMany({ where: { id: userId } });
    this.#principals?.clear();
    return count > 0;
  }

  /**
   * Accounts whose emails differ only in case, grouped by the lower-case email: left apart by the
   * emails_lower_case migration (they are different people's data) for an operator to resolve.
   */
  async emailCaseDuplicates(): Promise<Array<{ email: string; users: Array<{ id: string; email: string }> }>> {
    const rows = await this.#db.$queryRaw<Array<{ email: string; users: Array<{ id: string; email: string }> }>>`
      SELECT lower(email) AS email, json_agg(json_build_object('id', id, 'email', email) ORDER BY created_at, id) AS users
        FROM users GROUP BY lower(email) HAVING count(*) > 1 ORDER BY 1`;
    return rows;
  }

  async issueKey(userId: string, name?: string): Promise<IssuedKey> {
    const generated = generateApiKey();
    const row = await this.#db.apiKey.create({
      data: { userId, prefix: generated.prefix, hash: generated.hash, name: name ?? null },
    });
    return { id: row.id, key: generated.key, prefix: generated.prefix, userId };
  }

  /**
   * Stores a key whose secret is chosen outside (the development admin key). The key must have
   * the normal shape; re-running with the same key is a no-op.
   */
  async importKey(userId: string, key: string, name: string): Promise<void> {
    const prefix = apiKeyPrefix(key);
    if (!prefix) throw new AppError('VALIDATION_FAILED', 'The key does not have the iq_<12 hex>_<43 base64url> shape.');
    await this.#db.apiKey.upsert({
      where: { prefix },
      create: { userId, prefix, hash: hashApiKey(key), name },
      update: { userId, hash: hashApiKey(key), revokedAt: null },
    });
    this.#principals?.clear();
  }

  async listKeys(userId: string) {
    return this.#db.apiKey.findMany({
      where: { userId },
      orderBy: { createdAt: 'asc' },
      select: { id: true, prefix: true, name: true, createdAt: true, lastUsedAt: true, revokedAt: true },
    });
  }

  /** A key's public fields, by id or prefix; null for no such key, or a string that is neither. */
  async findKey(idOrPrefix: string) {
    const where = keyWhere(idOrPrefix);
    if (!where) return null;
    return this.#db.apiKey.findUnique({
      where,
      select: { id: true, userId: true, prefix: true, name: true, createdAt: true, lastUsedAt: true, revokedAt: true },
    });
  }

  /**
   * Revokes a key by id or prefix; it stops working on the next request here, and in other
   * processes once the change notification reaches them (milliseconds; see PrincipalCache).
   */
  async revokeKey(idOrPrefix: string): Promise<boolean> {
    const where = keyWhere(idOrPrefix);
    if (!where) return false;
    const { count } = await this.#db.apiKey.updateMany({
      where: { ...where, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    this.#principals?.clear();
    return count > 0;
  }

  /**
   * The principal behind a presented key, or null for a malformed, unknown, revoked or disabled
   * one. Every failure takes the same path and cost, so answers do not hint whether a key exists.
   */
  async authenticate(key: string): Promise<Principal | null> {
    const keyHash = this.#principals ? hashApiKey(key) : '';
    const cached = this.#principals?.get(keyHash);
    if (cached) {
      this.#noteUse(cached.keyId);
      return cached;
    }
    const generation = this.#principals?.generation ?? 0;
    const prefix = apiKeyPrefix(key);
    // Every request runs this lookup, so it goes through pg directly (see sqlPool in @inferq/db).
    const { rows } = prefix
      ? await sqlPool(this.#db).query<{
          id: string;
          userId: string;
          hash: string;
          revokedAt: Date | null;
          email: string;
          role: Role;
          tier: string;
          disabledAt: Date | null;
        }>({
          name: 'inferq-authenticate',
          text: `SELECT k.id, k.user_id AS "userId", k.hash, k.revoked_at AS "revokedAt", u.email, u.role, u.tier, u.disabled_at AS "disabledAt"
                   FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix = $1`,
          values: [prefix],
        })
      : { rows: [] };
    const row = rows[0];
    const matches = apiKeyMatches(key, row?.hash ?? unknownKeyHash);
    if (!row || !matches || row.revokedAt || row.disabledAt) return null;
    const principal: Principal = {
      userId: row.userId,
      email: row.email,
      role: row.role,
      tier: row.tier,
      keyId: row.id,
    };
    this.#principals?.set(keyHash, principal, generation);
    this.#noteUse(row.id);
    return principal;
  }

  /**
   * Writes a key's `last_used_at`, at most once per interval: not awaited, so no request waits
   * on it, and a failed write is simply tried again on a later request. The trigger that empties
   * the principal caches ignores this column.
   */
  #noteUse(keyId: string): void {
    if (this.#recentlyUsed.has(keyId)) return;
    this.#recentlyUsed.set(keyId, true);
    sqlPool(this.#db)
      .query({
        name: 'inferq-key-used',
        text: `UPDATE api_keys SET last_used_at = now()
                WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))`,
        values: [keyId, this.#lastUsedIntervalMs / 1000],
      })
      .catch(() => this.#recentlyUsed.delete(keyId));
  }
}
