// Worker pools: two models (nsfw, heavy; mnist, light) under one closed-loop load, served by
//   - two pools side by side: one worker process with WORKER_MODELS=nsfw, one with mnist;
//   - one pool serving both: two worker processes with WORKER_MODELS=nsfw,mnist.
// Same number of worker processes either way. Half the clients submit nsfw, half mnist; each
// waits for its result (GET ?wait=). Reports jobs/s and p50/p99 end to end per model, and how loaded
// the machine was, since it is shared.
//   pnpm bench workers [--clients 8] [--seconds 20] [--setups pools,shared]
// (`pnpm bench workers --processes 1,2` runs the older comparison of WORKER_PROCESSES=1 vs 2.)
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@inferq/testing';
import { benchImage } from './lib/benchImage.ts';
import { HttpClient, closedLoop, waitForJob } from './lib/loadClient.ts';
import { startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, summarize, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '20' },
    setups: { type: 'string', default: 'pools,shared' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
  },
});
const clients = Number(values.clients);
const models = ['nsfw', 'mnist'] as const;
type Model = (typeof models)[number];
const setups: Record<string, { about: string; workers: Array<Record<string, string>> }> = {
  pools: { about: 'two pools (nsfw | mnist)', workers: [{ WORKER_MODELS: 'nsfw' }, { WORKER_MODELS: 'mnist' }] },
  shared: { about: 'one pool serving both', workers: [{ WORKER_MODELS: 'nsfw,mnist' }, { WORKER_MODELS: 'nsfw,mnist' }] },
};
// A photo for nsfw (224×224 input), a small one for mnist (28×28 grey input).
const uploads: Record<Model, Awaited<ReturnType<typeof benchImage>>> = { nsfw: await benchImage('1024x768'), mnist: await benchImage('64x64') };
const services = await startBenchServices();
const before = machineLoad();
console.log(`worker pools: nsfw + mnist on wasm, ${clients} clients (half each), ${values.seconds} s per setup; ${before.uptime}`);

interface ModelRun {
  succeeded: number;
  failed: number;
  jobsPerSecond: number;
  endToEndMs: ReturnType<typeof summarize>;
  queueWaitMs: ReturnType<typeof summarize>;
}
const rows: Array<{ setup: string; model: Model; run: ModelRun; loadBefore: number; loadAfter: number }> = [];
try {
  for (const setup of values.setups.split(',')) {
    const spec = setups[setup];
    if (!spec) throw new Error(`unknown setup ${setup}; known: ${Object.keys(setups).join(', ')}`);
    const loadBefore = machineLoad().load1;
    const platform = await startPlatform({
      services,
      modelsDir: values['models-dir'],
      defaultModel: 'nsfw',
      workers: spec.workers.length,
      queueName: `bench-${randomUUID()}`,
      workerEach: spec.workers,
    });
    const users = await benchUsers(services, clients);
    const http = new HttpClient(platform.api.url, { connections: clients * 2 });
    const samples = Object.fromEntries(models.map((model) => [model, { endToEnd: [] as number[], queueWait: [] as number[], failed: 0 }])) as Record<Model, { endToEnd: number[]; queueWait: number[]; failed: number }>;
    let counting = false;
    const task = async (client: number) => {
      const model = models[client % models.length]!;
      const headers = users[client]!.headers;
      const started = performance.now();
      const answer = await http.request<{ id: string }>('POST', `/v1/jobs?model=${model}`, { body: uploads[model].upload, headers });
      if (answer.status !== 202) throw new Error(`submit answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
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
    try {
      await closedLoop({ clients, jobs: clients * 2, task });
      counting = true;
      wallMs = await closedLoop({ clients, durationMs: Number(values.seconds) * 1000, task });
    } finally {
      await http.close();
      await platform.stop();
    }
    const loadAfter = machineLoad().load1;
    for (const model of models) {
      const { endToEnd, queueWait, failed } = samples[model];
      const run = { succeeded: endToEnd.length, failed, jobsPerSecond: (endToEnd.length * 1000) / wallMs, endToEndMs: summarize(endToEnd), queueWaitMs: summarize(queueWait) };
      rows.push({ setup, model, run, loadBefore, loadAfter });
      console.log(`${spec.about}: ${model} ${run.jobsPerSecond.toFixed(2)} jobs/s, p99 ${formatMs(run.endToEndMs.p99)}, ${failed} failed`);
    }
  }
} finally {
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
      'e2e p50/p99': `${formatMs(run.endToEndMs.p50)} / ${formatMs(run.endToEndMs.p99)}`,
      'queue wait p99': formatMs(run.queueWaitMs.p99),
      'p99 vs other setup': other ? `${(run.endToEndMs.p99 / other.run.endToEndMs.p99).toFixed(2)}×` : '',
      'load avg before/after': `${loadBefore} / ${loadAfter}`,
    };
  }),
);
console.log(`machine: ${before.cores} cores, shared with other work; load average ${before.load1} at start, ${machineLoad().load1} at end`);
console.log(`wrote ${writeResults('worker-pools', { clients, seconds: Number(values.seconds), rows, load: before })}`);
