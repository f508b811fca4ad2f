// 2. End to end: N clients submit real JPEGs over HTTP and wait for each result (GET ?wait=),
// against the API + W worker processes + Postgres + Redis on this machine. Jobs/s and latencies,
// and the ratio to the raw model limit of W processes measured in the same run.
//   pnpm bench e2e [--workers 1,2] [--clients 8] [--seconds 20] [--image 1024x768] [--raw-batches 1,4,8] [--raw-seconds 2]
//                  [--engine onnxruntime-cpu] (the raw ceiling's engine: the one the workers serve nsfw with)
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@inferq/testing';
import { benchImage } from './lib/benchImage.ts';
import { envFlag, startPlatform } from './lib/platform.ts';
import { benchUsers, coresRow, runClosedLoad, type LoadRunResult } from './lib/platformRun.ts';
import { machineLoad } from './lib/procStat.ts';
import { measureRaw } from './lib/rawModel.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, writeResults } from './lib/stats.ts';


const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2' },
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '20' },
    image: { type: 'string', default: '1024x768' },
    model: { type: 'string', default: 'nsfw' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
    'raw-batches': { type: 'string', default: '1,4,8' },
    engine: { type: 'string', default: 'onnxruntime-cpu' },
    'raw-seconds': { type: 'string', default: '2' },
    /** Clients are spread over this many users; 0: one user per client. */
    users: { type: 'string', default: '0' },
    'shared-redis': { type: 'boolean', default: false },
    /** Extra environment for the workers / the API, `KEY=VALUE,…` (e.g. WORKER_NICE=0). */
    'worker-env': { type: 'string' },
    'api-env': { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
const workerCounts = values.workers.split(',').map(Number);
const image = await benchImage(values.image);
const services = await startBenchServices({ sharedRedis: values['shared-redis'] });
const before = machineLoad();
console.log(`end to end: ${values.model} on ${values.engine}, ${values.image} JPEG (${image.bytes.length} bytes), ${values.clients} clients, ${values.seconds} s per run; ${before.uptime}`);

interface E2eRow {
  workers: number;
  run: LoadRunResult;
  rawImagesPerSecond: number;
  rawBatch: number;
  /** CPU ms the model itself takes per image at that batch: ms/image in one process × its threads. */
  modelCpuMsPerImage: number;
  ratio: number;
  load1: number;
}
const rows: E2eRow[] = [];
try {
  for (const workers of workerCounts) {
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
      run = await runClosedLoad({ services, platform, users: await benchUsers(services, Number(values.users) || Number(values.clients)), upload: image.upload, clients: Number(values.clients), durationMs: Number(values.seconds) * 1000 });
    } finally {
      await platform.stop();
    }
    // The ceiling for the same number of processes, measured right after (same machine state).
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
      run,
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
  rows.map(({ workers, run, rawImagesPerSecond, ratio }) => ({
    workers,
    jobs: run.succeeded,
    'jobs/s': run.jobsPerSecond.toFixed(1),
    'raw images/s': rawImagesPerSecond.toFixed(1),
    'e2e / raw': `${(ratio * 100).toFixed(0)}%`,
    'submit p50/p99': `${formatMs(run.submitMs.p50)} / ${formatMs(run.submitMs.p99)}`,
    'queue wait p50/p99': `${formatMs(run.queueWaitMs.p50)} / ${formatMs(run.queueWaitMs.p99)}`,
    'e2e p50/p95/p99': `${formatMs(run.endToEndMs.p50)} / ${formatMs(run.endToEndMs.p95)} / ${formatMs(run.endToEndMs.p99)}`,
  })),
);
console.log('\ncores busy during each run (of the machine\'s ' + before.cores + ')');
printTable(rows.map(({ workers, run }) => ({ 'worker processes': workers, ...coresRow(run) })));
// Where a job's CPU goes: the model's own share (from the raw run; an upper bound with several
// threads, which may idle) and the rest of the worker (decode, resize, queue, database), the API
// (validation, the stored pixels), Postgres, Redis.
console.log('\nCPU ms per job, outside the model and in it');
printTable(
  rows.map(({ workers, run, modelCpuMsPerImage }) => ({
    'worker processes': workers,
    'model (raw)': modelCpuMsPerImage.toFixed(1),
    'worker outside the model': Math.max(0, run.cpuMsPerJob.workers - modelCpuMsPerImage).toFixed(1),
    api: run.cpuMsPerJob.api.toFixed(1),
    postgres: run.cpuMsPerJob.postgres.toFixed(1),
    redis: run.cpuMsPerJob.redis.toFixed(1),
    'platform total (all but the model)': Math.max(0, run.cpuMsPerJob.total - run.cpuMsPerJob.client - modelCpuMsPerImage).toFixed(1),
  })),
);
const after = machineLoad();
console.log(`load average: ${before.load1} before, ${after.load1} after`);
const file = writeResults('e2e', { model: values.model, image: values.image, clients: Number(values.clients), seconds: Number(values.seconds), privateRedis: services.privateRedis, rows, load: { before, after } });
console.log(`wrote ${file}`);
