import { LRUCache } from 'lru-cache';
import pg from 'pg';
import type { Principal } from './accountStore.ts';

/** The channel the accounts triggers notify (migration `accounts_change_notify`). */
export const accountChangesChannel = 'inferq_accounts';

export interface PrincipalCacheOptions {
  /** How long a looked-up principal is reused at most. @defaultValue 60000 */
  ttlMs?: number;
  /** Keys held at most; the least recently used go first. @defaultValue 10000 */
  maxEntries?: number;
}

/**
 * Principals of recently presented API keys, keyed by the key's SHA-256, so that a client's
 * requests after its first cost no Postgres lookup.
 *
 * It serves entries only while it is told of every change: {@link AccountChanges} enables it
 * once its `LISTEN` stands and disables (and empties) it when the connection drops. Any change
 * to a key's revocation or a user's tier, role, email or disabled state empties it (changes are
 * rare; telling which entries they touch is not worth it). A lookup that started before a change
 * is not stored ({@link generation}), so a revocation is never undone by a read that raced it.
 * Unknown, revoked and malformed keys are never stored: a failure always reaches Postgres.
 */
export class PrincipalCache {
  readonly #entries: LRUCache<string, Principal>;
  #enabled = false;
  #generation = 0;

  constructor(options: PrincipalCacheOptions = {}) {
    this.#entries = new LRUCache({ max: options.maxEntries ?? 10_000, ttl: options.ttlMs ?? 60_000 });
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Changes seen so far; take it before a lookup and hand it to {@link set}. */
  get generation(): number {
    return this.#generation;
  }

  get(keyHash: string): Principal | undefined {
    return this.#enabled ? this.#entries.get(keyHash) : undefined;
  }

  /** Stores a lookup's result unless a change arrived since `generation` was taken. */
  set(keyHash: string, principal: Principal, generation: number): void {
    // Frozen: every request of that key shares the object.
    if (this.#enabled && generation === this.#generation) this.#entries.set(keyHash, Object.freeze(principal));
  }

  /** Something about accounts changed: drop everything, and refuse lookups already in flight. */
  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }

  /** Changes are being heard (again): start serving, from empty. */
  enable(): void {
    this.clear();
    this.#enabled = true;
  }

  /** Changes can no longer be heard: serve nothing until {@link enable}. */
  disable(): void {
    this.#enabled = false;
    this.clear();
  }
}

export interface AccountChangesOptions {
  /** Postgres connection string; the listener holds one connection of its own. */
  url: string;
  cache: PrincipalCache;
  /** Wait before reconnecting after the connection drops. @defaultValue 1000 */
  reconnectMs?: number;
  onError?: (error: Error) => void;
}

/**
 * Keeps a {@link PrincipalCache} honest: `LISTEN`s on {@link accountChangesChannel}, empties the
 * cache on every notification (a revocation in the admin CLI, another API instance or plain SQL),
 * and turns it off whenever the connection is down, reconnecting in the background.
 */
export class AccountChanges {
  readonly #options: AccountChangesOptions;
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: AccountChangesOptions) {
    this.#options = options;
  }

  /** Connects and listens; resolves once the cache is on, or after the first failure (retried in the background). Never rejects. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const { cache } = this.#options;
    const client = new pg.Client({
      connectionString: this.#options.url,
      application_name: 'inferq-account-changes',
      connectionTimeoutMillis: 5000,
    });
    this.#client = client;
    const lost = (error?: Error) => {
      if (this.#client !== client) return;
      this.#client = undefined;
      cache.disable();
      if (error) this.#options.onError?.(error);
      client.end().catch(() => {});
      this.#retry();
    };
    client.on('notification', () => cache.clear());
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${accountChangesChannel}`);
      if (this.#client === client) cache.enable();
    } catch (error) {
      lost(error as Error);
    }
  }

  #retry(): void {
    if (this.#stopped || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, this.#options.reconnectMs ?? 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    this.#options.cache.disable();
    await client?.end().catch(() => {});
  }
}
