// `pnpm bench <name> [args…]`: runs one benchmark; `pnpm bench` lists them.
// Benchmarks print medians and ratios and write JSON under bench-results/; each is bounded in time.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const benchmarks: Record<string, { file: string; about: string }> = {
  all: {
    file: 'all.ts',
    about:
      'every part below in turn (about 10 minutes), then one summary table against the targets; --quick for a smoke run',
  },
  pipeline: {
    file: 'pipelineLatency.ts',
    about: 'per-image worker latency and end-to-end latency of single jobs (median of 20)',
  },
  admission: {
    file: 'admission.ts',
    about:
      'cost of admitting a job: per-user in-flight count and admit transaction (Postgres), global queue length (Redis)',
  },
  load: {
    file: 'load.ts',
    about:
      'a 60 s flood of submissions beyond worker capacity (autocannon, loopback): p99 of 202/429/503, no 5xx, API memory, then every accepted job drained',
  },
  ratelimit: {
    file: 'rateLimit.ts',
    about: 'p50/p99 latency of 429 answers under a flood (autocannon, loopback) next to a 200 poll',
  },
  db: { file: 'dbQueries.ts', about: 'CPU per hot-path read: Prisma model query vs $queryRaw vs the pg driver' },
  e2e: {
    file: 'e2e.ts',
    about: 'end to end: N clients submit JPEGs and wait, API + W workers; jobs/s, latencies, ratio to the raw limit',
  },
  memory: {
    file: 'memory.ts',
    about: 'API and worker RSS during and after 10,000 trivial-model jobs; worker tensor count before and after',
  },
  naive: {
    file: 'naive.ts',
    about: 'naive baseline: Express + model.predict in the handler (capped) vs the platform, low load and overload',
  },
  overload: {
    file: 'overload.ts',
    about: 'submit latency p50/p99 at a fixed rate (200/s) while the workers are saturated and the queue is deep',
  },
  fairness: {
    file: 'fairness.ts',
    about:
      "a steady pro user alone and beside a flooding free user: the pro user's p50/p99 and refusals; a pro burst beside a flood of 500, its p99 over its p99 alone; --apis N for replicas",
  },
  search: {
    file: 'search.ts',
    about:
      "the jobs listing's filters (owner and operator) at 1,000,000 generated jobs (--rows): p50/p95 per filter kind and the index that answered",
  },
  overhead: {
    file: 'overhead.ts',
    about: 'platform overhead: trivial model, jobs/s and CPU ms per job per process, beside raw BullMQ',
  },
  profile: {
    file: 'profileSummary.ts',
    about: 'summarize CPU profiles written with --cpu-prof DIR: self time by package and function',
  },
  streams: {
    file: 'streams.ts',
    about:
      'live dashboard streams: API latency p50/p99 and memory with 0 and 200 open SSE streams, event delay, connections',
  },
  batching: {
    file: 'batching.ts',
    about:
      'dynamic batching: images/s and p50/p99 latency at batch sizes 1-32 per backend available here, nsfw and mnist',
  },
  workers: {
    file: 'workerPools.ts',
    about:
      'two worker pools (nsfw | mnist) vs one pool serving both, same processes: jobs/s and p50/p99 per model (closed loop); --processes 1,2 runs the WORKER_PROCESSES comparison instead',
  },
  processes: {
    file: 'workerProcesses.ts',
    about:
      'images/s of one worker entry with WORKER_PROCESSES=1 vs 2 (API + Postgres + Redis, nsfw, closed loop), and the machine load',
  },
  tracing: {
    file: 'tracing.ts',
    about:
      'what OpenTelemetry tracing costs per job (7 spans and the traceparent across the queue), off (the default) vs on',
  },
  modeldownload: {
    file: 'modelDownload.ts',
    about:
      'API memory while a model with one large shard (--mib, 256) is registered by URL: streamed to disk vs read into memory',
  },
  imagestore: {
    file: 'imageStore.ts',
    about:
      'storing only the image of an upload with a payload appended: cut at its end marker vs a sharp re-encode (JPEG, PNG, WebP)',
  },
  blobstore: {
    file: 'blobStore.ts',
    about:
      "a job input's write and read in the file blob store: blocking calls (the default up to BLOB_STORE_FILE_BLOCKING_MAX_BYTES), the writer thread (the API's writes while its event loop is busy) and the thread pool; CPU (all threads and the calling thread) and wall µs per operation",
  },
  validate: {
    file: 'validateCpu.ts',
    about:
      'CPU per upload of the image check (validateImage), all threads, beside its libvips header read and decode alone; 32×32 and 1024×768 JPEGs',
  },
  requests: {
    file: 'apiRequests.ts',
    about: 'API CPU per request, by kind: a submit, the poll of a finished job, an authenticated read (workers idle)',
  },
  reference: {
    file: 'reference.ts',
    about:
      'API CPU per job and jobs/s of submits by imageUrl and by uploadId (s3rver) against multipart, same run; Postgres size per 10,000 jobs with inputs in Postgres and after moving them out',
  },
  queueposition: {
    file: 'queuePosition.ts',
    about:
      "what a queued job's place costs: the position read (one pipelined round trip) beside the queue-length read every submit makes, on a deep queue; PUBLISH + XADD of the event log beside PUBLISH alone",
  },
  tune: {
    file: 'tune.ts',
    about:
      "`models tune` against the batching bench: the setting the tuner picks (most images/s within the p99 budget) vs the sweep's best, measured again in turns; rate ratio (target ≥ 0.95) and p99",
  },
  rollout: {
    file: 'rollout.ts',
    about:
      "traffic split 70/30 over 1,000 jobs (share each version ran vs the weights), and the primary's p99 with and without a shadow version, API + worker",
  },
  tensor: {
    file: 'tensor.ts',
    about:
      'tensor models over /v2: requests/s and p50/p99 sync and respond-async beside raw ONNX Runtime; platform CPU per tensor job beside BullMQ add',
  },
  decode: {
    file: 'decode.ts',
    about:
      "the worker's exact JPEG decode against DCT-domain 1/2 and 1/4 and libjpeg's fast IDCT and upsampling, on real photos: CPU ms per photo and how far the model's scores move",
  },
  'resize-graph': {
    file: 'resizeGraph.ts',
    about:
      "the worker's aligned-corners resize and scaling in JavaScript against the same steps as ONNX nodes on ONNX Runtime, fed decoded 8-bit pixels: CPU ms per photo, input and score differences",
  },
  raw: {
    file: 'raw.ts',
    about: "raw model limit: images/s of the worker's model and backend at batch sizes 1-32, 1 and 2 processes",
  },
};

const [name, ...args] = process.argv.slice(2);
const entry = name ? benchmarks[name] : undefined;
if (!entry) {
  console.log('usage: pnpm bench <name> [args]\n');
  for (const [key, value] of Object.entries(benchmarks)) console.log(`  ${key.padEnd(12)} ${value.about}`);
  process.exit(name ? 2 : 0);
}
// `workers --processes …` is the older WORKER_PROCESSES comparison, kept under its first command.
const file =
  name === 'workers' && args.some((arg) => arg.startsWith('--processes')) ? benchmarks.processes!.file : entry.file;
process.argv = [process.argv[0]!, file, ...args];
await import(pathToFileURL(path.join(import.meta.dirname, file)).href);
