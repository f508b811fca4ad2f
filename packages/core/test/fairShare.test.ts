import { describe, expect, it } from 'vitest';
import { FairShare } from '../src/fairShare.ts';

describe('FairShare', () => {
  it('holds one user to their share while other users still get units', () => {
    const share = new FairShare({ capacity: 8, perUser: 2 });
    const a1 = share.tryAcquire('a');
    const a2 = share.tryAcquire('a');
    const a3 = share.tryAcquire('a');
    expect([a1.ok, a2.ok, a3.ok]).toEqual([true, true, false]);
    expect(a3).toMatchObject({ ok: false, scope: 'user', inUse: 2, limit: 2 });
    expect(share.tryAcquire('b').ok).toBe(true);
    expect(share.inUse).toBe(3);
    expect(share.heldBy('a')).toBe(2);
  });

  it('refuses everyone once the capacity is held, and takes again after a release', () => {
    const share = new FairShare({ capacity: 4, perUser: 2 });
    const leases = ['a', 'a', 'b', 'b'].map((user) => share.tryAcquire(user));
    expect(leases.every((lease) => lease.ok)).toBe(true);
    expect(share.full).toBe(true);
    expect(share.tryAcquire('c')).toMatchObject({ ok: false, scope: 'global', inUse: 4, limit: 4 });
    const first = leases[0]!;
    if (!first.ok) throw new Error('unreachable');
    first.release();
    first.release(); // a second release gives nothing back twice
    expect(share.inUse).toBe(3);
    expect(share.tryAcquire('c').ok).toBe(true);
    expect(share.tryAcquire('d').ok).toBe(false);
  });

  it('counts amounts, and lets one request larger than a share run when its user holds nothing', () => {
    const share = new FairShare({ capacity: 100, perUser: 30 });
    const big = share.tryAcquire('a', 40);
    expect(big.ok).toBe(true);
    expect(share.tryAcquire('a', 1)).toMatchObject({ ok: false, scope: 'user', inUse: 40 });
    expect(share.tryAcquire('b', 30).ok).toBe(true);
    expect(share.tryAcquire('c', 31)).toMatchObject({ ok: false, scope: 'global', inUse: 70 });
    if (big.ok) big.release();
    expect(share.heldBy('a')).toBe(0);
    expect(share.users).toBe(1);
  });

  it('lets one request larger than the capacity run alone', () => {
    const share = new FairShare({ capacity: 10, perUser: 5 });
    const huge = share.tryAcquire('a', 50);
    expect(huge.ok).toBe(true);
    expect(share.tryAcquire('b', 1).ok).toBe(false);
  });

  it.each([
    [{ capacity: 0 }],
    [{ capacity: 4, perUser: 5 }],
    [{ capacity: 4, perUser: 0 }],
    [{ capacity: 1.5 }],
  ])('rejects the nonsensical options %j', (options) => {
    expect(() => new FairShare(options)).toThrow(RangeError);
  });

  it('defaults the share to a quarter of the capacity', () => {
    expect(new FairShare({ capacity: 32 }).perUser).toBe(8);
    expect(new FairShare({ capacity: 2 }).perUser).toBe(1);
  });
});
