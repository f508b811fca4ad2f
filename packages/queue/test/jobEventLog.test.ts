import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import {
  compareEventIds,
  isEventId,
  JobEventLog,
  JobEventPublisher,
  jobEventsStreamKey,
  type JobEvent,
} from '../src/index.ts';

describe('JobEventLog', () => {
  const prefix = `${inject('queuePrefix')}:event-log-${randomUUID()}`;
  let reads: Redis;
  let blocking: Redis;
  let log: JobEventLog;
  let publisher: JobEventPublisher;
  const tailed: Array<{ id: string | undefined; event: JobEvent }> = [];

  beforeAll(async () => {
    reads = new Redis(inject('redisUrl'));
    blocking = new Redis(inject('redisUrl'));
    publisher = new JobEventPublisher({ connection: reads, prefix, maxLength: 1000 });
    // Events from before the tail starts are history, not live.
    await publisher.publish({ jobId: 'before', userId: 'u1', status: 'queued', model: 'm' });
    log = new JobEventLog({ blocking, reads, prefix, blockMs: 200 });
    await log.start();
    log.onAny((event, id) => tailed.push({ id, event }));
  });

  afterAll(async () => {
    await log.close();
    blocking.disconnect();
    await log.stopped();
    await reads.del(jobEventsStreamKey(prefix));
    reads.disconnect();
  });

  /** Polls until `check` holds, for up to 5 s. */
  async function until(check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('hands out each published event once, in order, with increasing stream ids, and routes it by job and user', async () => {
    const byUser: string[] = [];
    const byJob: string[] = [];
    const offUser = log.onUser('u2', (event) => byUser.push(event.status));
    const offJob = log.onJob('j1', (event) => byJob.push(event.status));
    const statuses = ['queued', 'running', 'succeeded'] as const;
    for (const status of statuses) await publisher.publish({ jobId: 'j1', userId: 'u2', status, model: 'm' });
    await publisher.publish({ jobId: 'j2', userId: 'u3', status: 'expired', model: 'm' });
    await until(() => tailed.length === 4);
    offUser();
    offJob();
    expect(tailed.map(({ event }) => `${event.jobId}:${event.status}`)).toEqual([
      'j1:queued',
      'j1:running',
      'j1:succeeded',
      'j2:expired',
    ]);
    const ids = tailed.map(({ id }) => id!);
    expect(ids.every(isEventId)).toBe(true);
    for (let i = 1; i < ids.length; i++) expect(compareEventIds(ids[i - 1]!, ids[i]!)).toBe(-1);
    expect(byUser).toEqual([...statuses]);
    expect(byJob).toEqual([...statuses]);
  });

  it('tails only while someone listens: it stops once a read comes back with no listener, and starts again from the end', async () => {
    const name = `inferq-event-log-test-${randomUUID()}`;
    const ownBlocking = new Redis(inject('redisUrl'), { connectionName: name });
    // A stream of its own: the other cases count the shared one's events.
    const ownPrefix = `${prefix}-own`;
    const own = new JobEventLog({ blocking: ownBlocking, reads, prefix: ownPrefix, blockMs: 100 });
    const ownPublisher = new JobEventPublisher({ connection: reads, prefix: ownPrefix });
    /** Whether the tail's connection is blocked in XREAD now. */
    const reading = async () => {
      const clients = (await reads.client('LIST')) as string;
      const line = clients.split('\n').find((entry) => entry.includes(` name=${name} `));
      return /flags=\S*b/.test(line ?? '');
    };
    const seen: string[] = [];
    try {
      await own.start();
      const off = own.onJob('k1', (event) => seen.push(event.status));
      await until(reading);
      await ownPublisher.publish({ jobId: 'k1', userId: 'u9', status: 'queued', model: 'm' });
      await until(() => seen.length === 1);
      off();
      // No listener left: the next read that comes back (its 100 ms block) ends the tail.
      await own.stopped();
      expect(await reading()).toBe(false);
      // Published while nobody listened: not handed to a listener that comes later.
      await ownPublisher.publish({ jobId: 'k1', userId: 'u9', status: 'running', model: 'm' });
      await own.start();
      own.onJob('k1', (event) => seen.push(event.status));
      await ownPublisher.publish({ jobId: 'k1', userId: 'u9', status: 'succeeded', model: 'm' });
      await until(() => seen.length === 2);
      expect(seen).toEqual(['queued', 'succeeded']);
    } finally {
      await own.close();
      ownBlocking.disconnect();
      await own.stopped();
      await reads.del(jobEventsStreamKey(ownPrefix));
    }
  });

  it('reads the kept events after an id, exclusive, in pages, from the oldest one kept', async () => {
    const oldest = await log.oldestId();
    expect(oldest).not.toBeNull();
    const all = await log.readAfter('0-0', 100);
    expect(all[0]!.id).toBe(oldest);
    expect(all.map(({ event }) => event.jobId)).toEqual(['before', 'j1', 'j1', 'j1', 'j2']);
    const after = await log.readAfter(all[1]!.id, 2);
    expect(after.map(({ id }) => id)).toEqual([all[2]!.id, all[3]!.id]);
    expect(await log.readAfter(all.at(-1)!.id, 100)).toEqual([]);
  });

  it('keeps about maxLength events, dropping the oldest first', async () => {
    for (let i = 0; i < 3000; i++) void publisher.publish({ jobId: `bulk-${i}`, userId: null, status: 'queued' });
    await publisher.publish({ jobId: 'last', userId: null, status: 'queued' });
    const length = await reads.xlen(jobEventsStreamKey(prefix));
    // MAXLEN ~ trims whole macro nodes (100 entries each by default): about the cap, never far past it.
    expect(length).toBeGreaterThanOrEqual(1000);
    expect(length).toBeLessThan(1300);
    const first = (await log.readAfter('0-0', 1))[0]!;
    expect(first.event.jobId).toMatch(/^bulk-/);
  });

  it.each([
    ['1733461803114-0', true],
    ['1733461803114', false],
    ['abc-1', false],
    ['', false],
  ])('isEventId(%j) is %s', (value, expected) => {
    expect(isEventId(value)).toBe(expected);
  });
});
