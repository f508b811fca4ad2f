import sharp, { type CacheOptions, type CacheResult } from 'sharp';

export interface ConfigureSharpOptions {
  /**
   * libvips worker threads per image; 0 restores sharp's own default (one per core, or 1 on glibc
   * Linux without jemalloc). sharp already runs each image on the libuv thread pool
   * (`UV_THREADPOOL_SIZE`, default 4 images at once), so one thread per image keeps a busy API or
   * worker from running pool size × core count threads and starving the event loop and the model.
   * @defaultValue 1
   */
  concurrency?: number;
  /**
   * libvips' operation cache: `false` turns it off, an object sizes it. Validation sees each image
   * once, so a cache only holds memory.
   * @defaultValue false
   */
  cache?: boolean | CacheOptions;
}

export interface SharpSettings {
  /** libvips threads per image now in effect. */
  concurrency: number;
  /** The cache's limits and current use. */
  cache: CacheResult;
}

/**
 * Sets process-wide libvips settings. Call it once from a process's entry point, before the first
 * image; it affects every sharp user in the process.
 */
export function configureSharp(options: ConfigureSharpOptions = {}): SharpSettings {
  const concurrency = options.concurrency ?? 1;
  if (!Number.isSafeInteger(concurrency) || concurrency < 0)
    throw new RangeError(`sharp concurrency must be a non-negative integer, got ${concurrency}`);
  // sharp reads 0 as "one thread per core".
  sharp.concurrency(concurrency);
  const cache = sharp.cache(options.cache ?? false);
  return { concurrency: sharp.concurrency(), cache };
}
