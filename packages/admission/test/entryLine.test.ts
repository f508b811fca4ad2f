import { describe, expect, it } from 'vitest';
import { EntryLine, type EntryPass } from '../src/entryLine.ts';
import { FairQueueRefusal } from '../src/fairQueue.ts';

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('EntryLine', () => {
  it('lets up to perFlow requests of a flow in at once, and the rest in order as those leave', async () => {
    const line = new EntryLine({ perFlow: 2 });
    const entered: number[] = [];
    const passes: EntryPass[] = [];
    const all = Array.from({ length: 5 }, (_, i) =>
      line.enter('flood').then((pass) => {
        entered.push(i);
        passes.push(pass);
        return pass;
      }),
    );
    await settle();
    expect(entered).toEqual([0, 1]);
    expect(line.insideOf('flood')).toBe(2);
    expect(line.waiting).toBe(3);
    passes[0]!.release();
    passes[0]!.release(); // a second call does nothing
    await settle();
    expect(entered).toEqual([0, 1, 2]);
    expect(line.insideOf('flood')).toBe(2);
    for (let i = 1; i < 5; i++) {
      passes[i]!.release();
      await settle();
    }
    await Promise.all(all);
    expect(entered).toEqual([0, 1, 2, 3, 4]);
    expect(line.insideOf('flood')).toBe(0);
    expect(line.waiting).toBe(0);
    expect((await all[4]!).waitedMs).toBeGreaterThanOrEqual(0);
  });

  it("never makes a flow wait for another's: a request behind a flood of 500 goes in at once", async () => {
    const line = new EntryLine({ perFlow: 8 });
    const flood = Array.from({ length: 500 }, () => line.enter('flood'));
    await settle();
    expect(line.waiting).toBe(492);
    const pass = await line.enter('pro');
    expect(pass.waitedMs).toBe(0);
    expect(line.insideOf('pro')).toBe(1);
    pass.release();
    // Drain the flood: every request goes in once one ahead of it leaves.
    for (const entering of flood) (await entering).release();
    expect(line.waiting).toBe(0);
    expect(line.insideOf('flood')).toBe(0);
  });

  it('refuses at once past maxWaiting, and after maxWaitMs, as the user scope', async () => {
    const line = new EntryLine({ perFlow: 1, maxWaiting: 2, maxWaitMs: 50 });
    const first = await line.enter('a');
    const waiting = [line.enter('a'), line.enter('a')];
    expect(line.wouldRefuse('a')).toBe(true);
    expect(line.wouldRefuse('b')).toBe(false);
    const full = await line.enter('a').catch((error: unknown) => error);
    expect(full).toBeInstanceOf(FairQueueRefusal);
    expect(full).toMatchObject({ scope: 'user', reason: 'queue-full', inUse: 1, limit: 1 });
    for (const timedOut of await Promise.allSettled(waiting)) {
      expect(timedOut.status).toBe('rejected');
      expect((timedOut as PromiseRejectedResult).reason).toMatchObject({ scope: 'user', reason: 'timeout' });
    }
    expect(line.waiting).toBe(0);
    first.release();
    expect(line.snapshot()).toEqual([{ flow: 'a', inside: 0, waiting: 0, queued: 2, refused: 3 }]);
    // With room again, the flow goes in at once.
    (await line.enter('a')).release();
  });

  it('takes a request whose client went away out of the line, and lets the next one in instead', async () => {
    const line = new EntryLine({ perFlow: 1 });
    const first = await line.enter('a');
    const gone = new AbortController();
    const abandoned = line.enter('a', gone.signal).catch((error: unknown) => error);
    const next = line.enter('a');
    await settle();
    gone.abort(new Error('client went away'));
    expect(await abandoned).toMatchObject({ message: 'client went away' });
    expect(line.waiting).toBe(1);
    first.release();
    const pass = await next;
    expect(line.insideOf('a')).toBe(1);
    pass.release();
    // An already-aborted signal is refused without waiting.
    const held = await line.enter('a');
    await expect(line.enter('a', AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    held.release();
  });

  it('refuses at once, as busy for everyone, once the door holds maxWaitingTotal of all flows', async () => {
    const line = new EntryLine({ perFlow: 1, maxWaitingTotal: 2 });
    const inside = [await line.enter('a'), await line.enter('b')];
    const waiting = [line.enter('a'), line.enter('b')];
    await expect(line.enter('c').then((pass) => pass.release())).resolves.toBeUndefined(); // room inside: no wait
    await expect(line.enter('a')).rejects.toMatchObject({ scope: 'global', reason: 'queue-full', inUse: 2, limit: 2 });
    for (const pass of inside) pass.release();
    for (const pass of await Promise.all(waiting)) pass.release();
    expect(line.waiting).toBe(0);
  });

  it('stops counting a request inside after countMs: the next of its flow goes in', async () => {
    const line = new EntryLine({ perFlow: 1, countMs: 30 });
    const slow = await line.enter('a');
    const started = performance.now();
    const next = await line.enter('a');
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(next.waitedMs).toBeGreaterThanOrEqual(25);
    expect(line.insideOf('a')).toBe(1);
    slow.release(); // past its count already: nothing more to give back
    expect(line.insideOf('a')).toBe(1);
    next.release();
    expect(line.insideOf('a')).toBe(0);
  });

  it('never waits with maxWaitMs 0: a request past the bound is refused at once', async () => {
    const line = new EntryLine({ perFlow: 1, maxWaitMs: 0 });
    const held = await line.enter('a');
    await expect(line.enter('a')).rejects.toMatchObject({ scope: 'user', reason: 'busy' });
    held.release();
  });

  it('keeps the counters of at most 100 idle flows', async () => {
    const line = new EntryLine();
    for (let i = 0; i < 150; i++) (await line.enter(`user-${i}`)).release();
    expect(line.snapshot().length).toBeLessThanOrEqual(101);
    const busy = await line.enter('busy');
    for (let i = 150; i < 300; i++) (await line.enter(`user-${i}`)).release();
    expect(line.snapshot().some((use) => use.flow === 'busy' && use.inside === 1)).toBe(true);
    busy.release();
  });

  it('refuses settings that make no sense', () => {
    expect(() => new EntryLine({ perFlow: 0 })).toThrow(RangeError);
    expect(() => new EntryLine({ maxWaiting: -1 })).toThrow(RangeError);
  });
});
