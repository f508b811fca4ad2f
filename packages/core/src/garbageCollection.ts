import v8 from 'node:v8';

/**
 * Counts buffers (memory outside V8's heap: uploads, decoded pixels, model inputs and outputs)
 * in V8's global heap limit, which grows with the heap, instead of against its fixed external
 * budget of 64 MB.
 *
 * Every image job holds a few MB of such buffers for a few milliseconds: a 1024×768 photo decodes
 * to 2.4 MB of pixels and becomes a 0.6 MB model input. Against the fixed budget, V8 runs a full
 * mark-compact of the whole heap every 20 or so jobs to reclaim them; in a worker that was 3 to 4
 * ms of CPU a job, more than the platform's own work. Counted in the global limit, the buffers
 * are reclaimed by the young-generation and incremental collections that run anyway (`pnpm bench
 * e2e`: the worker's CPU outside the model 14.5–15.2 ms a job instead of 19.2–25.5, in the same
 * sitting). The price is memory held longer: peak RSS of a worker process 593 MB instead of 437
 * in the same e2e run; it stays bounded, the limit being the heap's own, a small multiple of live
 * memory (the Kubernetes worker asks for 1 GiB). Call it once at start, before the process allocates buffers. The worker does (its
 * `GC_BUFFERS_IN_HEAP_LIMIT`); the API does not: its heap is busier with small objects, and there
 * the same change measured 2–7 ms more CPU a job.
 */
export function countBuffersInHeapLimit(): void {
  v8.setFlagsFromString('--external-memory-accounted-in-global-limit');
}

/**
 * The runtime settings every platform process starts with, however it is launched: `pnpm start`
 * (apps/stack), the Docker image (its `ENV`, which a test keeps equal to this) and the
 * benchmarks. Node's own defaults are not the fast ones for these processes:
 * - `--max-semi-space-size=16`: left to itself, Node 24 sizes semi-spaces from the machine's
 *   memory, and grows the young generation to 64 MB (32 MB semi-spaces) on a 24 GiB one. V8
 *   starts a full mark-compact whenever the old generation's headroom falls below the young
 *   generation's size; with the API's 50-odd MB of live heap that was every half second under
 *   `pnpm bench e2e` (29 mark-compacts in the API's 35 s against 6, its GC threads 1.3 ms of CPU
 *   a job against 0.5). 16 MB still lets per-request objects die young instead of filling the
 *   old space.
 * - `MALLOC_ARENA_MAX=2`: two malloc arenas keep glibc from fragmenting sharp's and libjpeg's
 *   thread allocations: over 10,000 jobs the API ends at ~300 MiB and a worker at ~310 MiB
 *   instead of ~390 and ~405 (`pnpm bench memory`).
 */
export const processRuntimeEnv = {
  NODE_OPTIONS: '--max-semi-space-size=16',
  MALLOC_ARENA_MAX: '2',
} as const;

/**
 * `processRuntimeEnv` for a child process, under what the caller's environment already says:
 * its own NODE_OPTIONS come after ours (Node takes the last of a repeated flag), and its
 * MALLOC_ARENA_MAX is kept.
 */
export function withProcessRuntimeEnv(env: NodeJS.ProcessEnv): { NODE_OPTIONS: string; MALLOC_ARENA_MAX: string } {
  const own = env.NODE_OPTIONS?.trim();
  return {
    NODE_OPTIONS: own ? `${processRuntimeEnv.NODE_OPTIONS} ${own}` : processRuntimeEnv.NODE_OPTIONS,
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX || processRuntimeEnv.MALLOC_ARENA_MAX,
  };
}
