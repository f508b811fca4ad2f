// Tensor models through the inference protocol: requests/s and p50/p99 of POST /v2/…/infer, sync
// (the request waits for its job) and Prefer: respond-async (202, then GET /v1/jobs/{id}?wait=20),
// beside the raw ONNX Runtime rate of the same model in this process; and the platform's CPU per
// tensor job (API, worker, Postgres, Redis) beside BullMQ add + a no-op worker on the same Redis.
//   pnpm bench tensor [--clients 16] [--seconds 10] [--rows 1] [--anchor-jobs 3000]
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, startOnnxRuntime } from '@inferq/inference';
import { addOnnxModel, ModelRegistry } from '@inferq/models';
import { embeddingModel } from '@inferq/testing';
import type { Tensor } from '@inferq/tensors';
import { measureBullmq } from './lib/bullmqAnchor.ts';
import { startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { CpuMeter, machineLoad, withDescendants } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, summarize, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '10' },
    /** Batch rows in each request. */
    rows: { type: 'string', default: '1' },
    'anchor-jobs': { type: 'string', default: '3000' },
  },
});
const clients = Number(values.clients);
const seconds = Number(values.seconds);
const rows = Number(values.rows);
const model = 'bench-embed';

const root = await mkdtemp(path.join(tmpdir(), 'inferq-bench-tensor-'));
const registry = new ModelRegistry({ root });
const added = await addOnnxModel(registry, { name: model, bytes: embeddingModel(), reader: { kind: 'embedding' } });
const body = JSON.stringify({
  inputs: [
    { name: 'features', shape: [rows, 4], datatype: 'FP32', data: Array.from({ length: rows * 4 }, (_, i) => i % 7) },
  ],
});
const before = machineLoad();
console.log(
  `tensor models: ${model} (FP32 [batch, 4] → [batch, 2]), ${rows} row(s) a request, ${clients} clients, ${seconds} s a phase; ${before.uptime}`,
);

/** Raw ONNX Runtime: one request's tensors a call, in this process, one thread (as the worker). */
async function rawRate(): Promise<number> {
  const onnx = await startOnnxRuntime({ preferred: 'cpu', intraOpThreads: 1, logger: { info() {}, warn() {} } });
  const served = await loadModel(added.model.location, added.model.manifest, {
    engines: { tfjs: null, onnx },
    engine: 'onnxruntime',
  });
  const input: Tensor[] = [{ name: 'features', datatype: 'FP32', shape: [rows, 4], data: new Float32Array(rows * 4) }];
  const started = performance.now();
  let calls = 0;
  while (performance.now() - started < Math.min(seconds, 5) * 1000) {
    await served.predictTensors([input]);
    calls++;
  }
  const rate = (calls * 1000) / (performance.now() - started);
  served.dispose();
  return rate;
}

interface Phase {
  requests: number;
  perSecond: number;
  latency: ReturnType<typeof summarize>;
  cpuMsPerJob: { api: number; worker: number; postgres: number; redis: number; total: number };
}

const services = await startBenchServices();
let raw = 0;
let sync: Phase | undefined;
let asyncPhase: Phase | undefined;
let anchor: Awaited<ReturnType<typeof measureBullmq>> | undefined;
try {
  raw = await rawRate();
  const platform = await startPlatform({
    services,
    modelsDir: root,
    defaultModel: model,
    workers: 1,
    queueName: `bench-${randomUUID()}`,
    worker: { WORKER_MODELS: '*' },
  });
  try {
    const users = await benchUsers(services, clients);
    const base = platform.api.url;
    const one = async (client: number, respondAsync: boolean): Promise<boolean> => {
      const headers = {
        ...users[client % users.length]!.headers,
        'content-type': 'application/json',
        ...(respondAsync ? { prefer: 'respond-async' } : {}),
      };
      const answer = await fetch(`${base}/v2/models/${model}/infer`, { method: 'POST', body, headers });
      if (!respondAsync) {
        await answer.arrayBuffer();
        return answer.status === 200;
      }
      const job = (await answer.json()) as { id: string };
      for (;;) {
        const read = (await (await fetch(`${base}/v1/jobs/${job.id}?wait=20`, { headers })).json()) as {
          status: string;
        };
        if (read.status === 'succeeded') return true;
        if (read.status === 'failed' || read.status === 'canceled') return false;
      }
    };
    const phase = async (respondAsync: boolean): Promise<Phase> => {
      // Warm-up, uncounted.
      await Promise.all(Array.from({ length: clients }, (_, c) => one(c, respondAsync)));
      const meter = new CpuMeter();
      const pids = { api: [platform.api.pid], worker: platform.workers.flatMap((w) => withDescendants(w.pid)) };
      const pgBefore = await services.postgresPids();
      meter.start([...pids.api, ...pids.worker, ...pgBefore]);
      const redisBefore = await services.redisCpuMs();
      const latencies: number[] = [];
      let failed = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async (_, c) => {
          while (performance.now() - started < seconds * 1000) {
            const t = performance.now();
            if (await one(c, respondAsync)) latencies.push(performance.now() - t);
            else failed++;
          }
        }),
      );
      const wall = performance.now() - started;
      const pg = [...new Set([...pgBefore, ...(await services.postgresPids())])];
      const cpu = {
        api: meter.since(pids.api),
        worker: meter.since(pids.worker),
        postgres: meter.since(pg),
        redis: (await services.redisCpuMs()) - redisBefore,
      };
      if (failed > 0) console.log(`${failed} requests failed`);
      const n = latencies.length;
      return {
        requests: n,
        perSecond: (n * 1000) / wall,
        latency: summarize(latencies),
        cpuMsPerJob: {
          api: cpu.api / n,
          worker: cpu.worker / n,
          postgres: cpu.postgres / n,
          redis: cpu.redis / n,
          total: (cpu.api + cpu.worker + cpu.postgres + cpu.redis) / n,
        },
      };
    };
    sync = await phase(false);
    asyncPhase = await phase(true);
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
  await rm(root, { recursive: true, force: true });
}
const after = machineLoad();
const single = (anchor ?? []).find((row) => row.mode === 'single');

console.log();
printTable([
  { run: `raw ONNX Runtime, this process, 1 thread`, 'requests/s': raw.toFixed(0), 'p50 / p99': '', 'vs raw': '1.00' },
  ...[
    ['POST /v2/…/infer, waits for the result', sync],
    ['POST /v2/…/infer, Prefer: respond-async + GET ?wait=20', asyncPhase],
  ].map(([run, p]) => {
    const phase = p as Phase;
    return {
      run: run as string,
      'requests/s': phase.perSecond.toFixed(0),
      'p50 / p99': `${formatMs(phase.latency.p50)} / ${formatMs(phase.latency.p99)}`,
      'vs raw': (phase.perSecond / raw).toFixed(3),
    };
  }),
]);
console.log("\nCPU ms per tensor job (the platform's own cost: no image decode)");
printTable(
  [
    ['sync', sync],
    ['respond-async', asyncPhase],
  ].map(([run, p]) => {
    const c = (p as Phase).cpuMsPerJob;
    return {
      run: run as string,
      api: c.api.toFixed(2),
      worker: c.worker.toFixed(2),
      postgres: c.postgres.toFixed(2),
      redis: c.redis.toFixed(2),
      total: c.total.toFixed(2),
    };
  }),
);
console.log('\nBullMQ on the same Redis (no-op worker), for scale');
printTable(
  (anchor ?? []).map((row) => ({
    run: `BullMQ ${row.mode === 'single' ? 'add' : 'addBulk'}`,
    'adds/s': row.addsPerSecond.toFixed(0),
    'jobs/s': row.jobsPerSecond.toFixed(0),
    'ms a job (1/rate)': (1000 / row.jobsPerSecond).toFixed(3),
  })),
);
if (single && sync)
  console.log(
    `\nplatform CPU per sync tensor job / BullMQ add wall time per job: ${(sync.cpuMsPerJob.total / (1000 / single.jobsPerSecond)).toFixed(1)}×`,
  );
console.log(`load average: ${before.load1} before, ${after.load1} after (the machine is shared: figures are noisy)`);
const file = writeResults('tensor', {
  clients,
  seconds,
  rows,
  raw,
  sync,
  async: asyncPhase,
  anchor,
  load: { before, after },
});
console.log(`wrote ${file}`);
