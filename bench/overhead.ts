// 3. Platform overhead: the end-to-end run with a trivial model (32×32 greyscale → one Dense
// layer) on a 32×32 JPEG, so the model costs ~nothing: jobs/s and CPU ms per job in the API, the
// workers, Postgres and Redis. Beside it, raw BullMQ (no-op processor) on the same Redis.
//   pnpm bench overhead [--workers 2] [--clients 32] [--seconds 10] [--batch 32] [--anchor-jobs 5000] [--submit-batch N] [--wait poll|prefer] [--cpu-prof DIR]
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchImage } from './lib/benchImage.ts';
import { multipartImages } from './lib/loadClient.ts';
import { measureBullmq } from './lib/bullmqAnchor.ts';
import { envFlag, startPlatform } from './lib/platform.ts';
import { benchUsers, coresRow, cpuPerJobRow, runClosedLoad, syscallsRow } from './lib/platformRun.ts';
import { machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, writeResults } from './lib/stats.ts';
import { createTinyModelRegistry, tinyModelName } from './lib/tinyModel.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    clients: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '32' },
    'anchor-jobs': { type: 'string', default: '5000' },
    /** Clients are spread over this many users; 0: one user per client. */
    users: { type: 'string', default: '0' },
    'shared-redis': { type: 'boolean', default: false },
    /** Extra environment for the workers / the API, `KEY=VALUE,…` (e.g. WORKER_NICE=0). */
    'worker-env': { type: 'string' },
    'api-env': { type: 'string' },
    'cpu-prof': { type: 'string' },
    /** Each client submits this many images per request (POST /v1/jobs/batch, Prefer: wait); 0: single submits. */
    'submit-batch': { type: 'string', default: '0' },
    /** `poll`: submit, then GET /v1/jobs/:id?wait=20 (two requests a job); `prefer`: `Prefer: wait=20` on the submit, as the typed client's run() sends (one). */
    wait: { type: 'string', default: 'poll' },
  },
});
const submitBatch = Number(values['submit-batch']);
if (values.wait !== 'poll' && values.wait !== 'prefer') throw new Error(`--wait is poll or prefer, got ${values.wait}`);
const workers = Number(values.workers);
const batch = Number(values.batch);
const modelsDir = await createTinyModelRegistry();
const image = await benchImage('32x32');
const services = await startBenchServices({ sharedRedis: values['shared-redis'] });
const before = machineLoad();
console.log(
  `platform overhead: model ${tinyModelName} (1 Dense layer), 32x32 JPEG, ${submitBatch > 0 ? `${submitBatch} images per submit (batch), ` : ''}${workers} worker(s), batch ${batch}, ${values.clients} clients, ${values.seconds} s; ${before.uptime}`,
);

let result;
let anchor;
try {
  const platform = await startPlatform({
    services,
    modelsDir,
    defaultModel: tinyModelName,
    workers,
    queueName: `bench-${randomUUID()}`,
    worker: { MAX_BATCH_SIZE: String(batch), WORKER_CONCURRENCY: String(batch * 2), ...envFlag(values['worker-env']) },
    api: envFlag(values['api-env']),
    cpuProfileDir: values['cpu-prof'],
  });
  try {
    result = await runClosedLoad({
      services,
      platform,
      users: await benchUsers(services, Number(values.users) || Number(values.clients)),
      upload:
        submitBatch > 0 ? multipartImages(image.bytes, submitBatch, 'bench-32x32.jpg', 'image/jpeg') : image.upload,
      batchSize: submitBatch,
      preferWait: values.wait === 'prefer',
      clients: Number(values.clients),
      durationMs: Number(values.seconds) * 1000,
    });
  } finally {
    await platform.stop();
  }
  anchor = await measureBullmq({
    redisUrl: services.redisUrl,
    prefix: services.queuePrefix,
    jobs: Number(values['anchor-jobs']),
  });
} finally {
  await services.stop();
  rmSync(modelsDir, { recursive: true, force: true });
}
const after = machineLoad();

console.log();
printTable([
  {
    run: `platform, ${workers} worker(s)${submitBatch > 0 ? `, ${submitBatch} images a submit` : values.wait === 'prefer' ? ', Prefer: wait on the submit' : ''}`,
    'jobs/s': result.jobsPerSecond.toFixed(0),
    jobs: result.succeeded,
    'submit p50/p99': `${formatMs(result.submitMs.p50)} / ${formatMs(result.submitMs.p99)}`,
    // The slowest job too: a wait that misses its job's end stretches the whole run, and jobs/s with it.
    'e2e p50/p99/max': `${formatMs(result.endToEndMs.p50)} / ${formatMs(result.endToEndMs.p99)} / ${formatMs(result.endToEndMs.max)}`,
  },
  ...anchor.map((row) => ({
    run: `BullMQ ${row.mode === 'single' ? 'add' : 'addBulk'} + no-op worker`,
    'jobs/s': row.jobsPerSecond.toFixed(0),
    jobs: row.jobs,
    'submit p50/p99': `adds: ${row.addsPerSecond.toFixed(0)}/s`,
    'e2e p50/p99/max': '',
  })),
]);
console.log('\nCPU ms per job');
printTable([cpuPerJobRow(result)]);
console.log('\ncores busy');
printTable([coresRow(result)]);
console.log('\nper job: system calls (socket reads and writes, mostly), Redis commands, Postgres transactions');
printTable([syscallsRow(result)]);
if (Object.keys(result.refused).length > 0) console.log(`refused submits: ${JSON.stringify(result.refused)}`);
console.log(`load average: ${before.load1} before, ${after.load1} after`);
const file = writeResults(
  submitBatch > 0 ? 'overhead-batch' : values.wait === 'prefer' ? 'overhead-prefer-wait' : 'overhead',
  {
    wait: values.wait,
    workers,
    batch,
    submitBatch,
    clients: Number(values.clients),
    seconds: Number(values.seconds),
    privateRedis: services.privateRedis,
    result,
    anchor,
    load: { before, after },
  },
);
console.log(`wrote ${file}`);
