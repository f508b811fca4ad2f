import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedisConnection, evalCached } from '../src/index.ts';

describe('evalCached', () => {
  const connection = createRedisConnection({ url: inject('redisUrl'), role: 'producer' });
  beforeAll(async () => {
    if (connection.status !== 'ready') await once(connection, 'ready');
  });
  afterAll(() => connection.disconnect());

  it('sends a script Redis lacks once, then runs it by its SHA1', async () => {
    // A script no one has sent yet: Redis answers NOSCRIPT to its SHA1 until it is sent whole.
    const script = `-- ${randomUUID()}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`;
    const sha = createHash('sha1').update(script).digest('hex');
    const key = `${inject('queuePrefix')}:eval-cached:${randomUUID()}`;
    expect(await connection.script('EXISTS', sha)).toEqual([0]);

    expect(await evalCached(connection, script, 1, key, '2')).toBe(2);
    expect(await connection.script('EXISTS', sha)).toEqual([1]);
    expect(await evalCached(connection, script, 1, key, '3')).toBe(5);
    await connection.del(key);
  });

  it('passes a script error on instead of sending the script again', async () => {
    const script = `-- ${randomUUID()}\nreturn redis.error_reply('BROKEN on purpose')`;
    await expect(evalCached(connection, script, 0)).rejects.toThrow('BROKEN on purpose');
    await expect(evalCached(connection, script, 0)).rejects.toThrow('BROKEN on purpose');
  });
});
