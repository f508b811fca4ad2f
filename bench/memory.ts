// 6. Memory: API and worker RSS while 10,000 jobs run through the trivial model, and after;
// the worker's live tensor count (its /readyz) before and after.
//   pnpm bench memory [--jobs 10000] [--clients 32] [--workers 1] [--batch 32] [--max-seconds 300]
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchImage } from './lib/benchImage.ts';
import { closedLoop, HttpClient, waitForJob } from './lib/loadClient.ts';
import { startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { machineLoad, rssMiB } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { printTable, writeResults } from './lib/stats.ts';
import { createTinyModelRegistry, tinyModelName } from './lib/tinyModel.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '32' },
    workers: { type: 'string', default: '1' },
    batch: { type: 'string', default: '32' },
    'idle-seconds': { type: 'string', default: '5' },
    /** Stops early (with fewer jobs) when the machine is too slow to finish in time. */
    'max-seconds': { type: 'string', default: '300' },
    'shared-redis': { type: 'boolean', default: false },
  },
});
const jobs = Number(values.jobs);
const workers = Number(values.workers);
const batch = Number(values.batch);
const modelsDir = await createTinyModelRegistry();
const image = await benchImage('32x32');
const services = await startBenchServices({ sharedRedis: values['shared-redis'] });
const before = machineLoad();
console.log(`memory: ${jobs} jobs through model ${tinyModelName}, ${workers} worker(s), ${values.clients} clients; ${before.uptime}`);

interface Sample {
  /** Jobs finished when the sample was taken. */
  done: number;
  apiMiB: number;
  workerMiB: number[];
}
const checkpoints = [0, 1000, 2000, 5000, 10_000].filter((n) => n <= jobs);
if (!checkpoints.includes(jobs)) checkpoints.push(jobs);

let report;
try {
  const platform = await startPlatform({
    services,
    modelsDir,
    defaultModel: tinyModelName,
    workers,
    queueName: `bench-${randomUUID()}`,
    worker: { MAX_BATCH_SIZE: String(batch), WORKER_CONCURRENCY: String(batch * 2) },
  });
  try {
    const tensors = async () => Promise.all(platform.workers.map(async (worker) => ((await (await fetch(`${worker.url}/readyz`)).json()) as { tensors?: number }).tensors ?? Number.NaN));
    const sample = (done: number): Sample => ({
      done,
      apiMiB: rssMiB(platform.api.pid) ?? Number.NaN,
      workerMiB: platform.workers.map((worker) => rssMiB(worker.pid) ?? Number.NaN),
    });
    const tensorsIdle = await tensors();
    const samples: Sample[] = [sample(0)];
    const peak = { apiMiB: 0, workerMiB: platform.workers.map(() => 0) };
    const users = await benchUsers(services, Number(values.clients));
    const http = new HttpClient(platform.api.url, { connections: Number(values.clients) * 2 });
    let done = 0;
    let failed = 0;
    const poll = setInterval(() => {
      const now = sample(done);
      peak.apiMiB = Math.max(peak.apiMiB, now.apiMiB);
      now.workerMiB.forEach((mib, i) => (peak.workerMiB[i] = Math.max(peak.workerMiB[i]!, mib)));
    }, 250);
    const started = performance.now();
    await closedLoop({
      clients: Number(values.clients),
      jobs,
      durationMs: Number(values['max-seconds']) * 1000,
      task: async (client) => {
        const headers = users[client]!.headers;
        const answer = await http.request<{ id: string }>('POST', '/v1/jobs', { body: image.upload, headers });
        if (answer.status !== 202) throw new Error(`submit answered ${answer.status}`);
        const job = await waitForJob(http, answer.body.id, { headers });
        if (job.status !== 'succeeded') failed++;
        done++;
        // Exactly at each checkpoint: the finishing client takes the sample.
        if (checkpoints.includes(done) && done > 0) samples.push(sample(done));
      },
    });
    const wallMs = performance.now() - started;
    clearInterval(poll);
    await http.close();
    const tensorsAfterRun = await tensors();
    await new Promise((resolve) => setTimeout(resolve, Number(values['idle-seconds']) * 1000));
    const idle = sample(done);
    const tensorsIdleAfter = await tensors();
    // Cut short by --max-seconds: compare with the last sample instead of job `jobs`.
    if (done < jobs) samples.push(sample(done));
    const at = (n: number) => samples.find((s) => s.done === n) ?? (n === jobs ? samples.at(-1) : undefined);
    const growth = (from: Sample | undefined, to: Sample | undefined, pick: (s: Sample) => number) => (from && to ? (pick(to) - pick(from)) / pick(from) : Number.NaN);
    report = {
      jobs: done,
      failed,
      jobsPerSecond: (done * 1000) / wallMs,
      samples,
      peak,
      idleAfter: idle,
      tensors: { idleBefore: tensorsIdle, afterRun: tensorsAfterRun, idleAfter: tensorsIdleAfter },
      workerGrowthFrom1000: platform.workers.map((_, i) => growth(at(Math.min(1000, jobs)), at(jobs), (s) => s.workerMiB[i]!)),
      apiGrowthFrom1000: growth(at(Math.min(1000, jobs)), at(jobs), (s) => s.apiMiB),
    };
  } finally {
    await platform.stop();
  }
} finally {
  await services.stop();
  rmSync(modelsDir, { recursive: true, force: true });
}
const after = machineLoad();

const mib = (value: number) => value.toFixed(1);
console.log();
printTable([
  ...report.samples.map((s) => ({ 'after jobs': s.done, 'API RSS MiB': mib(s.apiMiB), 'worker RSS MiB': s.workerMiB.map(mib).join(' / ') })),
  { 'after jobs': `${report.jobs} + ${values['idle-seconds']} s idle`, 'API RSS MiB': mib(report.idleAfter.apiMiB), 'worker RSS MiB': report.idleAfter.workerMiB.map(mib).join(' / ') },
  { 'after jobs': 'peak during the run', 'API RSS MiB': mib(report.peak.apiMiB), 'worker RSS MiB': report.peak.workerMiB.map(mib).join(' / ') },
]);
const pct = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`;
console.log(`\nRSS change from job ${Math.min(1000, jobs)} to job ${report.jobs}: worker ${report.workerGrowthFrom1000.map(pct).join(' / ')}, API ${pct(report.apiGrowthFrom1000)}`);
console.log(`worker tensors: ${report.tensors.idleBefore.join('/')} idle before, ${report.tensors.afterRun.join('/')} right after, ${report.tensors.idleAfter.join('/')} idle after`);
console.log(`${report.jobs} jobs (${report.failed} failed) at ${report.jobsPerSecond.toFixed(0)} jobs/s; load average: ${before.load1} before, ${after.load1} after`);
const file = writeResults('memory', { workers, batch, clients: Number(values.clients), privateRedis: services.privateRedis, ...report, load: { before, after } });
console.log(`wrote ${file}`);
