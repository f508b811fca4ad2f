// Worker pools: two models (nsfw, heavy; mnist, light) under one closed-loop load, served by
//   - two pools side by side: one worker process with WORKER_MODELS=nsfw, one with mnist;
//   - one pool serving both: two worker processes with WORKER_MODELS=nsfw,mnist.
// Same number of worker processes either way. Half the clients submit nsfw, half mnist; each
// waits for its result (GET ?wait=). Reports jobs/s and p50/p99 end to end per model, and how loaded
// the machine was, since it is shared. During each measured run an administrator reads the
// operators' view (GET /v1/admin/overview, what the dashboard's Operations page shows) every
// --sample-ms: each model's queue depth by state, and jobs held and running per model and per
// worker; the medians and maxima are printed and written to the JSON with every sample.
// --screenshot FILE also captures the dashboard's Operations page under the load (headless
// Chromium; with several setups, FILE gets the setup's name before its extension).
//   pnpm bench workers [--clients 8] [--seconds 20] [--setups pools,shared] [--sample-ms 250]
//                      [--screenshot docs/screenshots/operations-load.png] [--worker-env K=V,…]
// (`pnpm bench workers --processes 1,2` runs the older comparison of WORKER_PROCESSES=1 vs 2.)
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@inferq/testing';
import { benchImage } from './lib/benchImage.ts';
import { HttpClient, closedLoop, waitForJob } from './lib/loadClient.ts';
import { OperatorSampler, type OperatorSample, type OperatorSummary, type Spread } from './lib/operatorSampler.ts';
import { OperatorScreenshot, type ShownCounts } from './lib/operatorScreenshot.ts';
import { envFlag, startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, summarize, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '20' },
    setups: { type: 'string', default: 'pools,shared' },
    'sample-ms': { type: 'string', default: '250' },
    screenshot: { type: 'string' },
    'worker-env': { type: 'string' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
  },
});
const clients = Number(values.clients);
const sampleMs = Number(values['sample-ms']);
const setupNames = values.setups.split(',');
const models = ['nsfw', 'mnist'] as const;
type Model = (typeof models)[number];
const setups: Record<string, { about: string; workers: Array<Record<string, string>> }> = {
  pools: { about: 'two pools (nsfw | mnist)', workers: [{ WORKER_MODELS: 'nsfw' }, { WORKER_MODELS: 'mnist' }] },
  shared: {
    about: 'one pool serving both',
    workers: [{ WORKER_MODELS: 'nsfw,mnist' }, { WORKER_MODELS: 'nsfw,mnist' }],
  },
};
// A photo for nsfw (224×224 input), a small one for mnist (28×28 grey input).
const uploads: Record<Model, Awaited<ReturnType<typeof benchImage>>> = {
  nsfw: await benchImage('1024x768'),
  mnist: await benchImage('64x64'),
};
/** Where the screenshot of a setup goes: the file given, or with several setups `<name>-<setup><ext>`. */
function screenshotFile(setup: string): string | undefined {
  if (!values.screenshot) return undefined;
  const file = path.resolve(values.screenshot);
  if (setupNames.length === 1) return file;
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}-${setup}${ext}`;
}
const browser = values.screenshot ? await OperatorScreenshot.launch() : undefined;
const services = await startBenchServices();
const before = machineLoad();
console.log(
  `worker pools: nsfw + mnist on wasm, ${clients} clients (half each), ${values.seconds} s per setup, operators' view read every ${sampleMs} ms; ${before.uptime}`,
);

interface ModelRun {
  succeeded: number;
  failed: number;
  jobsPerSecond: number;
  endToEndMs: ReturnType<typeof summarize>;
  queueWaitMs: ReturnType<typeof summarize>;
}
const rows: Array<{ setup: string; model: Model; run: ModelRun; loadBefore: number; loadAfter: number }> = [];
const views: Array<{
  setup: string;
  workers: Record<string, string>;
  summary: OperatorSummary;
  samples: OperatorSample[];
  screenshot?: { file: string; shown: ShownCounts; waitedForLoad: boolean };
}> = [];
try {
  for (const setup of setupNames) {
    const spec = setups[setup];
    if (!spec) throw new Error(`unknown setup ${setup}; known: ${Object.keys(setups).join(', ')}`);
    const loadBefore = machineLoad().load1;
    const platform = await startPlatform({
      services,
      modelsDir: values['models-dir'],
      defaultModel: 'nsfw',
      workers: spec.workers.length,
      queueName: `bench-${randomUUID()}`,
      // Held and running per worker come from heartbeats: as often as the view is read.
      worker: { HEARTBEAT_INTERVAL_MS: String(sampleMs), ...envFlag(values['worker-env']) },
      workerEach: spec.workers,
    });
    const users = await benchUsers(services, clients);
    const [admin] = await benchUsers(services, 1, 'pro', 'admin');
    const operatorHttp = new HttpClient(platform.api.url, { connections: 1 });
    const sampler = new OperatorSampler(operatorHttp, { headers: admin!.headers, intervalMs: sampleMs });
    const shotFile = screenshotFile(setup);
    const http = new HttpClient(platform.api.url, { connections: clients * 2 });
    const samples = Object.fromEntries(
      models.map((model) => [model, { endToEnd: [] as number[], queueWait: [] as number[], failed: 0 }]),
    ) as Record<Model, { endToEnd: number[]; queueWait: number[]; failed: number }>;
    let counting = false;
    const task = async (client: number) => {
      const model = models[client % models.length]!;
      const headers = users[client]!.headers;
      const started = performance.now();
      const answer = await http.request<{ id: string }>('POST', `/v1/jobs?model=${model}`, {
        body: uploads[model].upload,
        headers,
      });
      if (answer.status !== 202)
        throw new Error(`submit answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
      const job = await waitForJob(http, answer.body.id, { headers });
      if (!counting) return;
      if (job.status !== 'succeeded') {
        samples[model].failed++;
        return;
      }
      samples[model].endToEnd.push(performance.now() - started);
      if (job.timings.queueWaitMs !== null) samples[model].queueWait.push(job.timings.queueWaitMs);
    };
    let wallMs: number;
    const durationMs = Number(values.seconds) * 1000;
    try {
      await Promise.all([
        closedLoop({ clients, jobs: clients * 2, task }),
        browser?.open(platform.api.url, admin!.key),
      ]);
      counting = true;
      sampler.start();
      // The picture is taken in the second half of the run, once the page shows a queue and held or running jobs.
      const shot =
        browser && shotFile
          ? new Promise((resolve) => setTimeout(resolve, durationMs / 2)).then(() =>
              browser.capture(shotFile, Math.max(1000, durationMs / 2 - 1000)),
            )
          : undefined;
      wallMs = await closedLoop({ clients, durationMs, task });
      const { samples: read, summary } = await sampler.stop();
      const captured = await shot;
      views.push({
        setup,
        workers: Object.fromEntries(spec.workers.map((env, i) => [`bench-${i + 1}`, env.WORKER_MODELS!])),
        summary,
        samples: read,
        ...(captured && shotFile ? { screenshot: { file: shotFile, ...captured } } : {}),
      });
      if (captured)
        console.log(
          `${spec.about}: screenshot ${shotFile}: ${captured.shown.models.map((entry) => `${entry.model} queued ${entry.queued}, held ${entry.held}, running ${entry.running}`).join('; ')}${captured.waitedForLoad ? '' : ' (no queued and held/running jobs on the page before the timeout)'}`,
        );
    } finally {
      await http.close();
      await operatorHttp.close();
      await platform.stop();
    }
    const loadAfter = machineLoad().load1;
    for (const model of models) {
      const { endToEnd, queueWait, failed } = samples[model];
      const run = {
        succeeded: endToEnd.length,
        failed,
        jobsPerSecond: (endToEnd.length * 1000) / wallMs,
        endToEndMs: summarize(endToEnd),
        queueWaitMs: summarize(queueWait),
      };
      rows.push({ setup, model, run, loadBefore, loadAfter });
      console.log(
        `${spec.about}: ${model} ${run.jobsPerSecond.toFixed(2)} jobs/s, p99 ${formatMs(run.endToEndMs.p99)}, ${failed} failed`,
      );
    }
  }
} finally {
  await browser?.close();
  await services.stop();
}

console.log();
printTable(
  rows.map(({ setup, model, run, loadBefore, loadAfter }) => {
    const other = rows.find((row) => row.model === model && row.setup !== setup);
    return {
      setup: setups[setup]!.about,
      model,
      jobs: run.succeeded,
      failed: run.failed,
      'jobs/s': run.jobsPerSecond.toFixed(2),
      'e2e p50/p99/max': `${formatMs(run.endToEndMs.p50)} / ${formatMs(run.endToEndMs.p99)} / ${formatMs(run.endToEndMs.max)}`,
      'queue wait p99': formatMs(run.queueWaitMs.p99),
      'p99 vs other setup': other ? `${(run.endToEndMs.p99 / other.run.endToEndMs.p99).toFixed(2)}×` : '',
      'load avg before/after': `${loadBefore} / ${loadAfter}`,
    };
  }),
);

const count = (value: number) =>
  Number.isFinite(value) ? (Number.isInteger(value) ? String(value) : value.toFixed(1)) : '-';
const medMax = (value: Spread) => `${count(value.median)} / ${count(value.max)}`;
console.log(
  `\nThe operators' view during each run (GET /v1/admin/overview every ${sampleMs} ms; median / max). Per model, every read:`,
);
printTable(
  views.flatMap(({ setup, summary }) =>
    Object.entries(summary.models).map(([model, entry]) => ({
      setup: setups[setup]!.about,
      model,
      reads: summary.samples,
      'queued (waiting+prioritized)': medMax(entry.queued),
      'active (BullMQ)': medMax(entry.states.active),
      held: medMax(entry.held),
      running: medMax(entry.running),
      workers: medMax(entry.workers),
    })),
  ),
);
console.log('\nPer worker and model, every distinct heartbeat:');
printTable(
  views.flatMap(({ setup, summary, workers }) =>
    Object.entries(summary.workers).flatMap(([workerId, worker]) =>
      Object.entries(worker.models).map(([model, entry]) => ({
        setup: setups[setup]!.about,
        worker: `${workerId} (${workers[workerId] ?? '?'})`,
        model,
        heartbeats: worker.heartbeats,
        held: medMax(entry.held),
        running: medMax(entry.running),
        concurrency: entry.concurrency,
      })),
    ),
  ),
);
console.log(
  `machine: ${before.cores} cores, shared with other work; load average ${before.load1} at start, ${machineLoad().load1} at end`,
);
console.log(
  `wrote ${writeResults('worker-pools', { clients, seconds: Number(values.seconds), sampleMs, rows, operatorView: views, load: before })}`,
);
