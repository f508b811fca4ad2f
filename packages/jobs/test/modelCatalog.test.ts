import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { ModelRegistry } from '@inferq/models';
import { registryCatalog } from '../src/modelCatalog.ts';

/** A registry whose live version the test sets, and whose reads it can hold and count. */
function fakeRegistry() {
  const state = { version: '1.0.0', reads: 0, hold: undefined as Promise<void> | undefined };
  const input = { width: 28, height: 28, channels: 1, resize: 'contain', resizeKernel: 'nearest' };
  const registry = {
    async resolve(name: string) {
      state.reads++;
      const version = state.version;
      if (state.hold) await state.hold;
      if (name !== 'mnist') throw new Error('not found');
      return { name, version, manifest: { version, input } };
    },
  } as unknown as ModelRegistry;
  return { state, registry };
}

describe('registryCatalog', () => {
  it('reuses an answer for cacheMs, then answers from it at once while one read refreshes it', async () => {
    // The cache ages on performance.now(): the test moves that clock, so a slow machine cannot
    // make an answer stale early, and staleness needs no sleep.
    vi.useFakeTimers({ toFake: ['performance'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const { state, registry } = fakeRegistry();
    const catalog = registryCatalog(registry, { cacheMs: 50 });
    expect(await catalog.resolve('mnist')).toMatchObject({ name: 'mnist', version: '1.0.0', input: { width: 28 } });
    expect(await catalog.resolve('mnist')).toMatchObject({ version: '1.0.0' });
    expect(state.reads).toBe(1);

    // Stale, and the registry is slow: the old answer comes back at once, and only one read runs.
    vi.advanceTimersByTime(60);
    state.version = '1.1.0';
    let release!: () => void;
    state.hold = new Promise((resolve) => (release = resolve));
    expect(await catalog.resolve('mnist')).toMatchObject({ version: '1.0.0' });
    expect(await catalog.resolve('mnist')).toMatchObject({ version: '1.0.0' });
    expect(state.reads).toBe(2);

    // Once the read is back, its answer is the one given.
    release();
    state.hold = undefined;
    // One turn of the event loop lets the refresh's callbacks store it; the cache's clock stands
    // still meanwhile, so nothing can go stale in between.
    await new Promise((resolve) => setImmediate(resolve));
    expect(await catalog.resolve('mnist')).toMatchObject({ version: '1.1.0' });
    expect(state.reads).toBe(2);
  });

  it('answers null for a name the registry does not have, and leaves the input out when pixels are not prepared', async () => {
    const { registry } = fakeRegistry();
    expect(await registryCatalog(registry).resolve('nope')).toBeNull();
    expect(await registryCatalog(registry, { preparePixels: false }).resolve('mnist')).toEqual({
      name: 'mnist',
      version: '1.0.0',
    });
  });
});
