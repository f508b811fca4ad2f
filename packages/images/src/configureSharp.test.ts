import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { configureSharp } from './configureSharp.ts';

describe('configureSharp', () => {
  const initialConcurrency = sharp.concurrency();
  afterEach(() => {
    sharp.concurrency(initialConcurrency);
    sharp.cache(true);
  });

  it('defaults to one libvips thread per image and no cache', () => {
    const settings = configureSharp();
    expect(settings.concurrency).toBe(1);
    expect(sharp.concurrency()).toBe(1);
    expect(settings.cache.items.max).toBe(0);
    expect(settings.cache.memory.max).toBe(0);
  });

  it('applies the given concurrency and cache size', () => {
    const settings = configureSharp({ concurrency: 2, cache: { memory: 20, files: 5, items: 10 } });
    expect(settings.concurrency).toBe(2);
    expect(settings.cache).toMatchObject({ memory: { max: 20 }, files: { max: 5 }, items: { max: 10 } });
  });

  it('rejects a nonsensical concurrency', () => {
    expect(() => configureSharp({ concurrency: -1 })).toThrow(RangeError);
  });
});
