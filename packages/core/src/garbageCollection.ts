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
