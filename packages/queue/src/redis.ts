import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'producer' | 'consumer';

export interface RedisConnectionOptions {
  url: string;
  /**
   * `producer` fails fast: commands are not queued while Redis is down, so the API answers 503
   * at once. `consumer` waits: a Worker's blocking commands must survive Redis restarts.
   */
  role: RedisRole;
  /** Name shown in `CLIENT LIST`. */
  connectionName?: string;
  /**
   * ioredis' auto-pipelining: the commands issued in one turn of the event loop go out in one
   * write. Only for connections of independent single commands (rate limits); never for BullMQ's,
   * whose scripts and transactions expect their commands sent as issued. @defaultValue false
   */
  autoPipelining?: boolean;
}

export function createRedisConnection(options: RedisConnectionOptions): Redis {
  const common: RedisOptions = {
    connectionName: options.connectionName,
    // Keep trying to reconnect in the background, capped at 2 s between attempts.
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
    enableAutoPipelining: options.autoPipelining ?? false,
  };
  const roleOptions: RedisOptions =
    options.role === 'producer'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 1000, commandTimeout: 2000 }
      : // null: a Worker's blocking commands must survive Redis restarts
        { maxRetriesPerRequest: null, enableOfflineQueue: true };
  return new Redis(options.url, { ...common, ...roleOptions });
}

/** A command name per script: ioredis' own, defined once per connection (see evalCached). */
const scriptNames = new Map<string, string>();

/**
 * Runs a Lua script through ioredis' script commands (`defineCommand`, defined on the connection
 * the first time it runs the script there): by its SHA1 (EVALSHA), the text sent (EVAL) only the
 * first time on each socket and again when Redis answers NOSCRIPT, after a restart or a SCRIPT
 * FLUSH. EVAL on every call sends the whole script and has Redis hash it again each time.
 */
export async function evalCached(redis: Redis, script: string, keyCount: number, ...args: string[]): Promise<unknown> {
  let name = scriptNames.get(script);
  if (name === undefined) {
    name = `inferqScript_${createHash('sha1').update(script).digest('hex')}`;
    scriptNames.set(script, name);
  }
  const commands = redis as unknown as Record<string, (...args: Array<string | number>) => Promise<unknown>>;
  // No numberOfKeys: the key count is the first argument, as EVAL takes it.
  if (!(name in redis.scriptsSet)) redis.defineCommand(name, { lua: script });
  return await commands[name]!(keyCount, ...args);
}

/** True when the connection can take a command right now. */
export function isRedisReady(redis: Redis): boolean {
  return redis.status === 'ready';
}

export async function pingRedis(redis: Redis, timeoutMs = 1000): Promise<boolean> {
  if (!isRedisReady(redis)) return false;
  try {
    const answer = await withTimeout(redis.ping(), timeoutMs);
    return answer === 'PONG';
  } catch {
    return false;
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`timed out after ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
