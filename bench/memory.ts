// 6. Memory: API and worker RSS while 10,000 jobs run through the trivial model, and after;
// the worker's live tensor count (its /readyz) before and after.
// `--heap-snapshots DIR` writes a V8 heap snapshot of the API and each worker after job 1,000 and
// at the end (compare them in Chrome DevTools' Memory tab to see what grew).
//   pnpm bench memory [--jobs 10000] [--clients 32] [--workers 1] [--batch 32] [--max-seconds 300] [--heap-snapshots DIR]
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { processRuntimeEnv } from '@inferq/core/garbageCollection';
import { benchImage } from './lib/benchImage.ts';
import { closedLoop, HttpClient, waitForJob } from './lib/loadClient.ts';
import { envFlag, startPlatform } from './lib/platform.ts';
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
    'heap-snapshots': { type: 'string' },
    /** Extra environment for the workers / the API, `KEY=VALUE,…`. */
    'worker-env': { type: 'string' },
    'api-env': { type: 'string' },
  },
});
const jobs = Number(values.jobs);
const workers = Number(values.workers);
const batch = Number(values.batch);
const modelsDir = await createTinyModelRegistry();
const image = await benchImage('32x32');
const services = await startBenchServices({ sharedRedis: values['shared-redis'] });
const before = machineLoad();
console.log(
  `memory: ${jobs} jobs through model ${tinyModelName}, ${workers} worker(s), ${values.clients} clients; ${before.uptime}`,
);

interface Sample {
  /** Jobs finished when the sample was taken. */
  done: number;
  apiMiB: number;
  workerMiB: number[];
  /** V8 heap in use (prom-client's nodejs_heap_size_used_bytes from /metrics), to tell a JS leak from a bigger heap or native memory. */
  apiHeapMiB?: number;
  workerHeapMiB?: number[];
}

/** nodejs_heap_size_used_bytes from a /metrics page, in MiB. */
async function heapMiB(url: string): Promise<number> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const match = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([0-9.e+]+)/m.exec(text);
    return match ? Number(match[1]) / 1024 / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
const checkpoints = [0, 1000, 2000, 5000, 10_000].filter((n) => n <= jobs);
if (!checkpoints.includes(jobs)) checkpoints.push(jobs);

const snapshotDir = values['heap-snapshots'] ? path.resolve(values['heap-snapshots']) : undefined;
if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });
const snapshotEnv: Record<string, string> = snapshotDir
  ? { NODE_OPTIONS: `${processRuntimeEnv.NODE_OPTIONS} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshotDir}` }
  : {};
let report;
try {
  const platform = await startPlatform({
    services,
    modelsDir,
    defaultModel: tinyModelName,
    workers,
    queueName: `bench-${randomUUID()}`,
    worker: {
      MAX_BATCH_SIZE: String(batch),
      WORKER_CONCURRENCY: String(batch * 2),
      ...snapshotEnv,
      ...envFlag(values['worker-env']),
    },
    api: { ...snapshotEnv, ...envFlag(values['api-env']) },
  });
  const snapshot = () => {
    if (!snapshotDir) return;
    for (const service of [platform.api, ...platform.workers]) service.child.kill('SIGUSR2');
  };
  try {
    const tensors = async () =>
      Promise.all(
        platform.workers.map(
          async (worker) =>
            ((await (await fetch(`${worker.url}/readyz`)).json()) as { tensors?: number }).tensors ?? Number.NaN,
        ),
      );
    const sample = (done: number): Sample => ({
      done,
      apiMiB: rssMiB(platform.api.pid) ?? Number.NaN,
      workerMiB: platform.workers.map((worker) => rssMiB(worker.pid) ?? Number.NaN),
    });
    const withHeaps = async (at: Sample) => {
      const [api, ...workerHeaps] = await Promise.all([
        heapMiB(platform.api.url),
        ...platform.workers.map((worker) => heapMiB(worker.url)),
      ]);
      at.apiHeapMiB = api;
      at.workerHeapMiB = workerHeaps;
    };
    const tensorsIdle = await tensors();
    const samples: Sample[] = [sample(0)];
    await withHeaps(samples[0]!);
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
        if (checkpoints.includes(done) && done > 0) {
          const at = sample(done);
          samples.push(at);
          void withHeaps(at);
          if (done === Math.min(1000, jobs)) snapshot();
        }
      },
    });
    const wallMs = performance.now() - started;
    clearInterval(poll);
    await http.close();
    const tensorsAfterRun = await tensors();
    await new Promise((resolve) => setTimeout(resolve, Number(values['idle-seconds']) * 1000));
    const idle = sample(done);
    await withHeaps(idle);
    snapshot();
    if (snapshotDir) await new Promise((resolve) => setTimeout(resolve, 15_000));
    const tensorsIdleAfter = await tensors();
    // Cut short by --max-seconds: compare with the last sample instead of job `jobs`.
    if (done < jobs) samples.push(sample(done));
    const at = (n: number) => samples.find((s) => s.done === n) ?? (n === jobs ? samples.at(-1) : undefined);
    const growth = (from: Sample | undefined, to: Sample | undefined, pick: (s: Sample) => number) =>
      from && to ? (pick(to) - pick(from)) / pick(from) : Number.NaN;
    report = {
      jobs: done,
      failed,
      jobsPerSecond: (done * 1000) / wallMs,
      samples,
      peak,
      idleAfter: idle,
      tensors: { idleBefore: tensorsIdle, afterRun: tensorsAfterRun, idleAfter: tensorsIdleAfter },
      workerGrowthFrom1000: platform.workers.map((_, i) =>
        growth(at(Math.min(1000, jobs)), at(jobs), (s) => s.workerMiB[i]!),
      ),
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
const row = (label: string, s: Sample) => ({
  'after jobs': label,
  'API RSS MiB': mib(s.apiMiB),
  'API heap MiB': s.apiHeapMiB === undefined ? '' : mib(s.apiHeapMiB),
  'worker RSS MiB': s.workerMiB.map(mib).join(' / '),
  'worker heap MiB': (s.workerHeapMiB ?? []).map(mib).join(' / '),
});
console.log();
printTable([
  ...report.samples.map((s) => row(String(s.done), s)),
  row(`${report.jobs} + ${values['idle-seconds']} s idle`, report.idleAfter),
  {
    'after jobs': 'peak during the run',
    'API RSS MiB': mib(report.peak.apiMiB),
    'API heap MiB': '',
    'worker RSS MiB': report.peak.workerMiB.map(mib).join(' / '),
    'worker heap MiB': '',
  },
]);
const pct = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`;
console.log(
  `\nRSS change from job ${Math.min(1000, jobs)} to job ${report.jobs}: worker ${report.workerGrowthFrom1000.map(pct).join(' / ')}, API ${pct(report.apiGrowthFrom1000)}`,
);
console.log(
  `worker tensors: ${report.tensors.idleBefore.join('/')} idle before, ${report.tensors.afterRun.join('/')} right after, ${report.tensors.idleAfter.join('/')} idle after`,
);
console.log(
  `${report.jobs} jobs (${report.failed} failed) at ${report.jobsPerSecond.toFixed(0)} jobs/s; load average: ${before.load1} before, ${after.load1} after`,
);
const file = writeResults('memory', {
  workers,
  batch,
  clients: Number(values.clients),
  privateRedis: services.privateRedis,
  ...report,
  load: { before, after },
});
console.log(`wrote ${file}`);
