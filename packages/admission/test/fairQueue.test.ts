import { describe, expect, it } from 'vitest';
import { FairQueue, FairQueueRefusal, type FairQueueLease } from '../src/fairQueue.ts';

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('FairQueue', () => {
  it('is work-conserving: one flow alone takes the whole capacity at once', async () => {
    const queue = new FairQueue({ capacity: 8 });
    const leases = await Promise.all(Array.from({ length: 8 }, () => queue.acquire('a')));
    expect(queue.inUse).toBe(8);
    expect(queue.heldBy('a')).toBe(8);
    expect(leases.every((lease) => lease.waitedMs === 0)).toBe(true);
    for (const lease of leases) lease.release();
    expect(queue.inUse).toBe(0);
  });

  it('queues past the capacity and grants in turn as units free up; a burst of 64 over 8 units is all granted', async () => {
    const queue = new FairQueue({ capacity: 8, maxWaitMs: 5000 });
    const granted: number[] = [];
    const all = Array.from({ length: 64 }, (_, i) =>
      queue.acquire('a').then(async (lease) => {
        granted.push(i);
        await settle();
        lease.release();
      }),
    );
    await Promise.all(all);
    expect(granted).toHaveLength(64);
    // FIFO within one flow.
    expect(granted).toEqual([...granted].sort((x, y) => x - y));
    expect(queue.inUse).toBe(0);
    expect(queue.waiting).toBe(0);
  });

  it('dispatches flows in turn: a flow arriving behind a flood of 100 is served within its first turns', async () => {
    const queue = new FairQueue({ capacity: 1, maxWaitMs: 10_000, queueLengthLimit: 1000 });
    const order: string[] = [];
    const run = (flow: string) =>
      queue.acquire(flow).then(async (lease) => {
        order.push(flow);
        await settle();
        lease.release();
      });
    const flood = Array.from({ length: 100 }, () => run('flood'));
    const late = Array.from({ length: 5 }, () => run('late'));
    await Promise.all([...flood, ...late]);
    // The late flow's five requests alternate with the flood's, not after all hundred.
    const lastLate = order.lastIndexOf('late');
    expect(lastLate).toBeLessThan(14);
  });

  it('gives the units that free up to the flow holding least, until it holds its share: a late flow is not held to every other one', async () => {
    const queue = new FairQueue({ capacity: 8, maxWaitMs: 10_000, queueLengthLimit: 1000 });
    const held = await Promise.all(Array.from({ length: 8 }, () => queue.acquire('flood')));
    const grants: Array<{ flow: string; lease: FairQueueLease }> = [];
    const ask = (flow: string) => void queue.acquire(flow).then((lease) => grants.push({ flow, lease }));
    for (let i = 0; i < 20; i++) ask('flood');
    for (let i = 0; i < 6; i++) ask('late');
    // The flood's eight units free up one by one; no grant is released meanwhile.
    for (const lease of held) {
      lease.release();
      await settle();
    }
    // Four to the late flow (its share of eight), then each unit the flood frees goes back to it.
    expect(grants.map((grant) => grant.flow)).toEqual([
      'late',
      'late',
      'late',
      'late',
      'flood',
      'flood',
      'flood',
      'flood',
    ]);
    expect(queue.heldBy('late')).toBe(4);
    expect(queue.heldBy('flood')).toBe(4);
    // From equal holdings on, a unit the late flow frees goes back to it too.
    grants[0]!.lease.release();
    await settle();
    expect(grants.at(-1)!.flow).toBe('late');
    expect(queue.waiting).toBe(16 + 1);
  });

  it('weighs the share held: a weight-2 flow arriving behind a flood takes units until it holds twice what the flood does', async () => {
    const queue = new FairQueue({ capacity: 9, maxWaitMs: 10_000, queueLengthLimit: 1000 });
    const held = await Promise.all(Array.from({ length: 9 }, () => queue.acquire('flood')));
    const order: string[] = [];
    for (let i = 0; i < 20; i++) void queue.acquire('flood').then(() => order.push('flood'));
    for (let i = 0; i < 20; i++) void queue.acquire('pro', 1, { weight: 2 }).then(() => order.push('pro'));
    for (const lease of held) {
      lease.release();
      await settle();
    }
    // pro takes the first six: then it holds 6 (3 a unit of weight) against the flood's 3.
    expect(order.slice(0, 6)).toEqual(['pro', 'pro', 'pro', 'pro', 'pro', 'pro']);
    expect(queue.heldBy('pro')).toBe(2 * queue.heldBy('flood'));
  });

  it('weighs turns by weight and by units: a weight-2 flow gets about twice the units of a weight-1 flow under contention', async () => {
    const queue = new FairQueue({ capacity: 1, maxWaitMs: 10_000, queueLengthLimit: 1000 });
    const order: string[] = [];
    const run = (flow: string, weight: number) =>
      queue.acquire(flow, 1, { weight }).then(async (lease) => {
        order.push(flow);
        await settle();
        lease.release();
      });
    const blocker = await queue.acquire('blocker');
    const all = [
      ...Array.from({ length: 30 }, () => run('light', 1)),
      ...Array.from({ length: 30 }, () => run('heavy', 2)),
    ];
    blocker.release();
    await Promise.all(all);
    const first30 = order.slice(0, 30);
    const heavy = first30.filter((flow) => flow === 'heavy').length;
    expect(heavy).toBeGreaterThanOrEqual(18);
    expect(heavy).toBeLessThanOrEqual(22);
  });

  it('refuses after maxWaitMs: 429 scope for a flow holding its fair share, 503 scope for one holding nothing', async () => {
    const queue = new FairQueue({ capacity: 2, maxWaitMs: 50 });
    const held = [await queue.acquire('hog'), await queue.acquire('hog')];
    const [hog, other] = await Promise.allSettled([queue.acquire('hog'), queue.acquire('other')]);
    expect(hog.status).toBe('rejected');
    expect(other.status).toBe('rejected');
    const hogRefusal = (hog as PromiseRejectedResult).reason as FairQueueRefusal;
    const otherRefusal = (other as PromiseRejectedResult).reason as FairQueueRefusal;
    expect(hogRefusal).toBeInstanceOf(FairQueueRefusal);
    expect(hogRefusal).toMatchObject({ scope: 'user', reason: 'timeout' });
    expect(otherRefusal).toMatchObject({ scope: 'global', reason: 'timeout' });
    for (const lease of held) lease.release();
    expect(queue.snapshot().flows.find((flow) => flow.flow === 'hog')).toMatchObject({
      held: 0,
      waiting: 0,
      queued: 1,
      refused: 1,
    });
  });

  it('bounds each queue: past queueLengthLimit a request is refused at once, and only the flooding flow is', async () => {
    const queue = new FairQueue({ capacity: 1, maxWaitMs: 60_000, queueLengthLimit: 3, queues: 64, handSize: 6 });
    const held = await queue.acquire('x');
    // Six queues of three: the flood fills its own hand (18 waiting), the 19th is refused.
    const waiting = Array.from({ length: 18 }, () => queue.acquire('flood'));
    await expect(queue.acquire('flood')).rejects.toMatchObject({ reason: 'queue-full', scope: 'user' });
    expect(queue.wouldRefuse('flood')).toBe(true);
    expect(queue.wouldRefuse('someone-else')).toBe(false);
    const other = queue.acquire('someone-else');
    const leases: FairQueueLease[] = [];
    // Drain: each granted request is released at once so the next goes.
    const drained = Promise.all(
      [other, ...waiting].map((pending) =>
        pending.then((lease) => {
          leases.push(lease);
          lease.release();
        }),
      ),
    );
    held.release();
    await drained;
    expect(leases).toHaveLength(19);
  });

  it('gives up a request whose signal aborts, and lets the next one go', async () => {
    const queue = new FairQueue({ capacity: 1 });
    const held = await queue.acquire('a');
    const controller = new AbortController();
    const gone = queue.acquire('b', 1, { signal: controller.signal });
    const next = queue.acquire('c');
    controller.abort(new Error('client went away'));
    await expect(gone).rejects.toThrow('client went away');
    held.release();
    (await next).release();
    expect(queue.inUse).toBe(0);
    expect(queue.waiting).toBe(0);
  });

  it('lets one request larger than the capacity run alone rather than never', async () => {
    const queue = new FairQueue({ capacity: 10 });
    const big = await queue.acquire('a', 25);
    expect(queue.inUse).toBe(25);
    const small = queue.acquire('b', 1);
    big.release();
    (await small).release();
  });

  it('caps a flow at maxPerFlow, whatever is free (long-held resources)', () => {
    const queue = new FairQueue({ capacity: 10, maxPerFlow: 2, maxWaitMs: 0 });
    const a = queue.tryAcquire('a');
    const b = queue.tryAcquire('a');
    const c = queue.tryAcquire('a');
    expect('release' in a && 'release' in b).toBe(true);
    expect(c).toMatchObject({ scope: 'user', reason: 'flow-limit' });
    expect('release' in queue.tryAcquire('other')).toBe(true);
  });

  it('deals each flow the same hand of distinct queues', async () => {
    const queue = new FairQueue({ capacity: 1, queues: 64, handSize: 6, maxWaitMs: 20, queueLengthLimit: 1 });
    // With one request per queue, a flow's seventh waiting request finds its whole hand full.
    const holder = await queue.acquire('holder');
    const pending = Array.from({ length: 6 }, () => queue.acquire('f').catch((error: unknown) => error));
    expect(queue.wouldRefuse('f')).toBe(true);
    expect(queue.waiting).toBe(6);
    for (const outcome of await Promise.all(pending)) expect(outcome).toMatchObject({ reason: 'timeout' });
    holder.release();
  });
});
