import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { watchEventLoopLoad, type EventLoopLoad } from '../src/eventLoopLoad.ts';

let load: EventLoopLoad | undefined;
afterEach(() => load?.stop());

/** Keeps the event loop busy for `ms` in short synchronous stretches, as a loaded server does. */
async function keepBusy(ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const stretch = performance.now() + 20;
    while (performance.now() < stretch) {
      /* busy */
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('watchEventLoopLoad', () => {
  it('reads near 1 while the loop is kept busy and near 0 once it waits for I/O again', async () => {
    load = watchEventLoopLoad(50);
    expect(load.utilization()).toBe(0);
    await keepBusy(300);
    expect(load.utilization()).toBeGreaterThan(0.8);
    await sleep(300);
    expect(load.utilization()).toBeLessThan(0.2);
  });

  it('keeps no process alive and stops sampling when stopped', async () => {
    load = watchEventLoopLoad(20);
    await keepBusy(100);
    load.stop();
    const last = load.utilization();
    await sleep(100);
    expect(load.utilization()).toBe(last);
  });
});
