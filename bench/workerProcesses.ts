// One worker entry with WORKER_PROCESSES=1 and then 2 (the supervisor forks one wasm worker per
// core): jobs/s end to end (API + Postgres + Redis, nsfw, real JPEGs, closed loop), and how
// loaded the machine was, since it is shared.
//   pnpm bench processes (or pnpm bench workers --processes 1,2) [--processes 1,2] [--clients 8] [--seconds 20] [--image 1024x768]
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@inferq/testing';
import { benchImage } from './lib/benchImage.ts';
import { startPlatform } from './lib/platform.ts';
import { benchUsers, runClosedLoad, type LoadRunResult } from './lib/platformRun.ts';
import { machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '1,2' },
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '20' },
    image: { type: 'string', default: '1024x768' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
  },
});
const image = await benchImage(values.image);
const services = await startBenchServices();
const before = machineLoad();
console.log(`worker processes: nsfw on wasm, ${values.clients} clients, ${values.seconds} s per run; ${before.uptime}`);

const rows: Array<{ processes: number; run: LoadRunResult; loadBefore: number; loadAfter: number }> = [];
try {
  for (const processes of values.processes.split(',').map(Number)) {
    const loadBefore = machineLoad().load1;
    const platform = await startPlatform({
      services,
      modelsDir: values['models-dir'],
      defaultModel: 'nsfw',
      workers: 1,
      queueName: `bench-${randomUUID()}`,
      worker: { WORKER_PROCESSES: String(processes), WORKER_MODELS: 'nsfw' },
    });
    let run: LoadRunResult;
    try {
      // Every child serving before the clock starts (the first one answered the start-up probe).
      const port = Number(new URL(platform.workers[0]!.url).port);
      for (let i = 1; i < processes; i++) await waitReady(`http://127.0.0.1:${port + i}/readyz`);
      run = await runClosedLoad({
        services,
        platform,
        users: await benchUsers(services, Number(values.clients)),
        upload: image.upload,
        clients: Number(values.clients),
        durationMs: Number(values.seconds) * 1000,
      });
    } finally {
      await platform.stop();
    }
    rows.push({ processes, run, loadBefore, loadAfter: machineLoad().load1 });
    console.log(`${processes} process(es): ${run.jobsPerSecond.toFixed(2)} images/s`);
  }
} finally {
  await services.stop();
}

console.log();
printTable(
  rows.map(({ processes, run, loadBefore, loadAfter }) => ({
    WORKER_PROCESSES: processes,
    jobs: run.succeeded,
    failed: run.failed,
    'images/s': run.jobsPerSecond.toFixed(2),
    'vs 1 process': rows[0] ? `${(run.jobsPerSecond / rows[0].run.jobsPerSecond).toFixed(2)}×` : '',
    'e2e p50/p99/max': `${formatMs(run.endToEndMs.p50)} / ${formatMs(run.endToEndMs.p99)} / ${formatMs(run.endToEndMs.max)}`,
    'load avg before/after': `${loadBefore} / ${loadAfter}`,
  })),
);
console.log(
  `machine: ${before.cores} cores, shared with other work; load average ${before.load1} at start, ${machineLoad().load1} at end`,
);
console.log(
  `wrote ${writeResults('workers', { clients: Number(values.clients), seconds: Number(values.seconds), rows, load: before })}`,
);

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ok = await fetch(url).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} not ready within 2 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
