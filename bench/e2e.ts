// 2. End to end: N clients submit photos over HTTP and wait for each result (GET ?wait=), against
// the API + W worker entries + Postgres + Redis on this machine, each started with no settings
// (as `pnpm start` and "Running without Docker" start them). Jobs/s and latencies, beside two
// ceilings measured in the same run:
// - the bare pipeline: the same photos in a plain loop in one process per core, no HTTP, queue
//   or database (sharp's full decode, the exact aligned-corners resize in floats, /255, ONNX
//   Runtime with one thread at batch 1): what the machine can do with the model;
// - the raw model alone at its best batch size.
//   pnpm bench e2e [--workers 1] [--clients 16] [--seconds 20] [--warmup-seconds 10] [--photos fixtures|synthetic|DIR] [--image 1024x768|native]
//                  [--bare-processes N] [--raw-batches 1,4,8] [--raw-seconds 2] [--engine onnxruntime-cpu] [--prefer-wait]
//                  [--repeat 1]
// The measured seconds come after `--warmup-seconds` of the same load, uncounted: a fresh API
// process is still compiling its hot paths for most of a minute (V8's optimizing compilers run on
// threads of their own, about 1.6 ms of CPU a job in the first 15 s here), and a server is judged
// by its steady state.
// The bare pipeline is measured twice, right before the platform's run and right after, and the
// ratio is to their mean: on a shared machine whose speed drifts from minute to minute, one 6 s
// window after the run moved the ceiling by a fifth between runs of the same code (110 to 129
// images/s while the platform's jobs/s stayed within 2%). Both are printed.
// `--repeat N` runs each worker count N times (the platform, then its ceilings, each time) and
// prints every run and the median of each figure over them: on a shared machine whose ceiling
// moves from minute to minute, one run's ratio can be off by a third.
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@inferq/testing';
import { jpegDecoderName } from '@inferq/images';
import { benchPhotos } from './lib/benchImage.ts';
import { multipartImage } from './lib/loadClient.ts';
import { envFlag, startPlatform } from './lib/platform.ts';
import { benchUsers, coresRow, runClosedLoad, syscallsRow, type LoadRunResult } from './lib/platformRun.ts';
import { machineLoad } from './lib/procStat.ts';
import { measureBare, measureRaw } from './lib/rawModel.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, median, printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1' },
    clients: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '20' },
    /** The load runs this long before the measured seconds, uncounted: the processes reach their steady state (JIT, pools, caches). */
    'warmup-seconds': { type: 'string', default: '10' },
    /** `fixtures` (the committed test photos), `synthetic` (photo-like noise), or a folder of JPEG/PNG/WebP files. */
    photos: { type: 'string', default: 'fixtures' },
    /** `WIDTHxHEIGHT`: photos are resized to it (and re-encoded as JPEG, quality 90); `native` sends them as they are. */
    image: { type: 'string', default: '1024x768' },
    /** Processes of the bare pipeline's ceiling. @defaultValue one per core */
    'bare-processes': { type: 'string' },
    'bare-seconds': { type: 'string', default: '6' },
    model: { type: 'string', default: 'nsfw' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
    'raw-batches': { type: 'string', default: '1,4,8' },
    engine: { type: 'string', default: 'onnxruntime-cpu' },
    'raw-seconds': { type: 'string', default: '2' },
    /** Clients are spread over this many users; 0: one user per client. */
    users: { type: 'string', default: '0' },
    'shared-redis': { type: 'boolean', default: false },
    /** Clients ask for the result in the submit itself (`Prefer: wait=20`, as the typed client's run() does): one request a job instead of two. */
    'prefer-wait': { type: 'boolean', default: false },
    /** Extra environment for the workers / the API, `KEY=VALUE,…` (e.g. WORKER_NICE=0). */
    'worker-env': { type: 'string' },
    'api-env': { type: 'string' },
    'cpu-prof': { type: 'string' },
    repeat: { type: 'string', default: '1' },
  },
});
const repeat = Math.max(1, Number(values.repeat));
const workerCounts = values.workers.split(',').map(Number);
const photos = await benchPhotos(values.photos, values.image);
const bareProcesses = Number(values['bare-processes'] ?? availableParallelism());
const services = await startBenchServices({ sharedRedis: values['shared-redis'] });
const before = machineLoad();
const meanBytes = Math.round(photos.reduce((sum, photo) => sum + photo.bytes.length, 0) / photos.length);
console.log(
  `end to end: ${values.model} on ${values.engine}, ${photos.length} ${values.photos} photos at ${values.image} (${meanBytes} bytes on average), ${values.clients} clients, ${values.seconds} s per run; JPEG decoded by ${jpegDecoderOf('worker')} in the worker, ${jpegDecoderOf('api')} in the API (the bare pipeline: sharp); job inputs under ${path.dirname(services.blobDir)}; ${before.uptime}`,
);

/** The JPEG decoder a process of this run uses: sharp when its --*-env says so, else what this machine has. */
function jpegDecoderOf(role: 'api' | 'worker'): string {
  const asked = envFlag(values[`${role}-env`]).JPEG_DECODER;
  return asked === 'sharp' ? 'sharp' : jpegDecoderName();
}

interface E2eRow {
  workers: number;
  /** Which of the --repeat runs (1-based). */
  attempt: number;
  run: LoadRunResult;
  /** The mean of the bare pipeline's two measurements, before and after the platform's run. */
  bareImagesPerSecond: number;
  bareBeforeAfter: [number, number];
  bareRatio: number;
  rawImagesPerSecond: number;
  rawBatch: number;
  /** CPU ms the model itself takes per image at that batch: ms/image in one process × its threads. */
  modelCpuMsPerImage: number;
  ratio: number;
  load1: number;
}
const rows: E2eRow[] = [];
try {
  const bareOptions = {
    modelsDir: values['models-dir'],
    model: values.model,
    processes: bareProcesses,
    seconds: Number(values['bare-seconds']),
    backend: values.engine,
    threads: 1,
    images: photos.map((photo) => photo.file),
  };
  for (const workers of workerCounts)
    for (let attempt = 1; attempt <= repeat; attempt++) {
      const bareBefore = await measureBare(bareOptions);
      const platform = await startPlatform({
        services,
        modelsDir: values['models-dir'],
        defaultModel: values.model,
        workers,
        queueName: `bench-${randomUUID()}`,
        cpuProfileDir: values['cpu-prof'],
        worker: envFlag(values['worker-env']),
        api: envFlag(values['api-env']),
      });
      let run: LoadRunResult;
      try {
        const uploads = photos.map((photo, i) => multipartImage(photo.bytes, `photo-${i}.jpg`, 'image/jpeg'));
        run = await runClosedLoad({
          services,
          platform,
          users: await benchUsers(services, Number(values.users) || Number(values.clients)),
          upload: uploads,
          clients: Number(values.clients),
          durationMs: Number(values.seconds) * 1000,
          ...(Number(values['warmup-seconds']) > 0 ? { warmupMs: Number(values['warmup-seconds']) * 1000 } : {}),
          preferWait: values['prefer-wait'],
        });
      } finally {
        await platform.stop();
      }
      // The ceilings, measured right after (same machine state): the bare pipeline on every core
      // (again, as before the run), and the model alone in as many processes as worker entries.
      const bareAfter = await measureBare(bareOptions);
      const bareImagesPerSecond = (bareBefore.imagesPerSecond + bareAfter.imagesPerSecond) / 2;
      const raw = await measureRaw({
        modelsDir: values['models-dir'],
        model: values.model,
        processes: workers,
        batches: values['raw-batches'].split(',').map(Number),
        seconds: Number(values['raw-seconds']),
        backend: values.engine,
        // The workers' default: one ONNX Runtime thread per process.
        threads: 1,
      });
      const threads = 1;
      rows.push({
        workers,
        attempt,
        run,
        bareImagesPerSecond,
        bareBeforeAfter: [bareBefore.imagesPerSecond, bareAfter.imagesPerSecond],
        bareRatio: run.jobsPerSecond / bareImagesPerSecond,
        rawImagesPerSecond: raw.best.imagesPerSecond,
        rawBatch: raw.best.batch,
        modelCpuMsPerImage: raw.best.msPerImage * threads,
        ratio: run.jobsPerSecond / raw.best.imagesPerSecond,
        load1: machineLoad().load1,
      });
    }
} finally {
  await services.stop();
}

console.log();
printTable(
  rows.map(({ workers, attempt, run, bareImagesPerSecond, bareBeforeAfter, bareRatio, rawImagesPerSecond, ratio }) => ({
    'worker entries': workers,
    ...(repeat > 1 ? { run: attempt } : {}),
    jobs: run.succeeded,
    'jobs/s': run.jobsPerSecond.toFixed(1),
    [`bare pipeline images/s (${bareProcesses} processes; before, after)`]: `${bareImagesPerSecond.toFixed(1)} (${bareBeforeAfter.map((value) => value.toFixed(0)).join(', ')})`,
    'e2e / bare': `${bareRatio.toFixed(2)}×`,
    'raw model images/s': rawImagesPerSecond.toFixed(1),
    'e2e / raw': `${(ratio * 100).toFixed(0)}%`,
    'submit p50/p99': `${formatMs(run.submitMs.p50)} / ${formatMs(run.submitMs.p99)}`,
    'queue wait p50/p99': `${formatMs(run.queueWaitMs.p50)} / ${formatMs(run.queueWaitMs.p99)}`,
    'e2e p50/p95/p99/max': `${formatMs(run.endToEndMs.p50)} / ${formatMs(run.endToEndMs.p95)} / ${formatMs(run.endToEndMs.p99)} / ${formatMs(run.endToEndMs.max)}`,
  })),
);
console.log("\ncores busy during each run (of the machine's " + before.cores + ')');
printTable(
  rows.map(({ workers, attempt, run }) => ({
    'worker processes': workers,
    ...(repeat > 1 ? { run: attempt } : {}),
    ...coresRow(run),
  })),
);
console.log('\nsystem calls, Redis commands and Postgres transactions per job');
printTable(
  rows.map(({ workers, attempt, run }) => ({
    'worker processes': workers,
    ...(repeat > 1 ? { run: attempt } : {}),
    ...syscallsRow(run),
  })),
);
// Where a job's CPU goes: the model's own share (from the raw run; an upper bound with several
// threads, which may idle) and the rest of the worker (decode, resize, queue, database), the API
// (validation, the stored pixels), Postgres, Redis.
console.log('\nCPU ms per job, outside the model and in it');
/** A job's CPU outside the model: every process of the platform, less the load client and the model. */
const outsideOf = ({ run, modelCpuMsPerImage }: E2eRow) =>
  Math.max(0, run.cpuMsPerJob.total - run.cpuMsPerJob.client - modelCpuMsPerImage);
printTable(
  rows.map((row) => ({
    'worker processes': row.workers,
    ...(repeat > 1 ? { run: row.attempt } : {}),
    'model (raw)': row.modelCpuMsPerImage.toFixed(1),
    'worker outside the model': Math.max(0, row.run.cpuMsPerJob.workers - row.modelCpuMsPerImage).toFixed(1),
    api: row.run.cpuMsPerJob.api.toFixed(1),
    postgres: row.run.cpuMsPerJob.postgres.toFixed(1),
    redis: row.run.cpuMsPerJob.redis.toFixed(1),
    'platform total (all but the model)': outsideOf(row).toFixed(1),
  })),
);
for (const workers of workerCounts) {
  const runs = rows.filter((row) => row.workers === workers);
  const of = repeat > 1 ? `, the median of ${runs.length} runs` : '';
  console.log(
    `${workers} worker entr${workers === 1 ? 'y' : 'ies'}${of}: ${median(runs.map((row) => row.run.jobsPerSecond)).toFixed(1)} jobs/s, end to end ${median(runs.map((row) => row.bareRatio)).toFixed(2)}× the bare pipeline (target ≥ 0.7); CPU per job outside the model ${median(runs.map(outsideOf)).toFixed(1)} ms (target ≤ 8)`,
  );
}
const after = machineLoad();
console.log(`load average: ${before.load1} before, ${after.load1} after`);
const file = writeResults('e2e', {
  model: values.model,
  photos: values.photos,
  bareProcesses,
  image: values.image,
  clients: Number(values.clients),
  seconds: Number(values.seconds),
  privateRedis: services.privateRedis,
  repeat,
  rows,
  load: { before, after },
});
console.log(`wrote ${file}`);
