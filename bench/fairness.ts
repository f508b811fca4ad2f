// Fairness between users: a steady pro user beside a flooding free user, against one API process.
//  1. steady: the pro user alone, an open loop at --rate submits/s for --seconds (latency from each
//     submit's scheduled start, so a stalled API cannot hide its delay);
//  2. flood: the same pro loop while the free user keeps --flood submits in flight at all times
//     (each client sends again as soon as it has an answer, refused or not). The free user sends
//     from a process of its own (lib/floodChild.ts), as another client would: this process reads
//     the pro user's answers alone, so their latencies are the server's, not also the time an
//     event loop shared with the flood took to get to them;
//  3. burst: --pro-burst pro submits at once, alone, --rounds times; then --flood free submits sent
//     at once and the same pro burst 10 ms later, --rounds times; how many of the pro user's were
//     refused, and their p99 beside the flood as a ratio of their p99 alone;
//  4. idle burst: one pro user sends --idle-burst submits at once (Promise.all, as scripts do) to
//     an idle server; how many were accepted.
// Each phase that is measured alone (the steady pro user, its bursts) and the bursts beside the
// flood start once the workers have drained every job before them: left running, the steady
// flood's backlog (thousands of jobs) was still being worked off during the bursts alone, and
// their p99, the ratio's reference, moved from 42 to 150 ms between runs of the same code.
// Admission is fair queuing: one user alone may use the whole API, and under contention each
// active user gets an equal turn; the pro user's p99 beside the flood is printed as a ratio of
// its p99 alone.
// The free tier's rate limits and quota are lifted (a flood spread over many free accounts meets
// none of them), so what is measured is what the flood holds inside the API: submit slots,
// upload memory, decodes. The trivial model keeps the workers out of the way.
// `--apis N` starts N API processes, as replicas behind a load balancer: the pro user's submits go
// to each in turn, and the flood's clients are spread evenly over them.
// `--api-cpus LIST` gives the API processes cores of their own (taskset's list, e.g. `0`): the
// API is pinned to them, and everything else of the run (this process, the flood's, the workers,
// Redis and this database's Postgres backends) to the other cores, as on a host where the API's
// pods have cores reserved.
//   pnpm bench fairness [--rate 20] [--seconds 10] [--flood 500] [--pro-burst 20] [--idle-burst 64] [--rounds 5] [--image 32x32] [--flood-image 32x32] [--apis 1] [--api-cpus LIST] [--api-env K=V,…] [--worker-env K=V,…] [--cpu-prof DIR]
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { inFlightStatusesSql } from '@inferq/db';
import { benchImage } from './lib/benchImage.ts';
import { outcome } from './lib/floodChild.ts';
import { FloodProcess } from './lib/floodProcess.ts';
import { HttpClient, openLoop, TimeoutError, type MultipartBody } from './lib/loadClient.ts';
import { benchTierOverrides, envFlag, startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { CpuMeter, machineLoad, otherCpus, pinToCpus, withDescendants } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, summarize, writeResults } from './lib/stats.ts';
import { createTinyModelRegistry, tinyModelName } from './lib/tinyModel.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    flood: { type: 'string', default: '500' },
    'pro-burst': { type: 'string', default: '20' },
    'idle-burst': { type: 'string', default: '64' },
    rounds: { type: 'string', default: '5' },
    image: { type: 'string', default: '32x32' },
    'flood-image': { type: 'string', default: '32x32' },
    workers: { type: 'string', default: '1' },
    apis: { type: 'string', default: '1' },
    'api-cpus': { type: 'string' },
    /** Write a V8 CPU profile of each process (node --cpu-prof) into this folder. */
    'cpu-prof': { type: 'string' },
    'api-env': { type: 'string' },
    'worker-env': { type: 'string' },
  },
});
const rate = Number(values.rate);
const durationMs = Number(values.seconds) * 1000;
const floodClients = Number(values.flood);
const rounds = Number(values.rounds);
const proBurst = Number(values['pro-burst']);
const idleBurst = Number(values['idle-burst']);
const proImage = await benchImage(values.image);
const floodImage = await benchImage(values['flood-image']);
const apiCpus = values['api-cpus'];
const restCpus = apiCpus ? otherCpus(apiCpus) : undefined;
// Everything this process starts inherits its CPUs; the API is moved to its own once started.
if (restCpus) pinToCpus([process.pid], restCpus);
const modelsDir = await createTinyModelRegistry();
const services = await startBenchServices();
const before = machineLoad();
console.log(
  `fairness${apiCpus ? ` (API on CPUs ${apiCpus}, the rest on ${restCpus})` : ''}: pro user at ${rate}/s (${values.image}) for ${values.seconds} s, alone then beside a free user keeping ${floodClients} submits (${values['flood-image']}) in flight; burst: ${floodClients} free then ${proBurst} pro, ${rounds} rounds; idle burst: ${idleBurst} from one pro user; ${before.uptime}`,
);

const lifted = {
  submitsPerWindow: 10_000_000,
  submitBurst: 0,
  requestsPerWindow: 10_000_000,
  maxJobsInFlight: 1_000_000,
};
const tierOverrides = JSON.stringify({ ...JSON.parse(benchTierOverrides), free: lifted });

type Statuses = Record<string, number>;
const count = (statuses: Statuses, key: string) => (statuses[key] = (statuses[key] ?? 0) + 1);
const addAll = (statuses: Statuses, more: Statuses) => {
  for (const [key, n] of Object.entries(more)) statuses[key] = (statuses[key] ?? 0) + n;
};

interface Phase {
  name: string;
  pro: { statuses: Statuses; ms: ReturnType<typeof summarize>; timeouts: number };
  flood: Statuses;
  apiCores: number;
}

let phases!: Phase[];
const burst: { pro: Statuses; flood: Statuses; proMs: number[]; aloneMs: number[] } = {
  pro: {},
  flood: {},
  proMs: [],
  aloneMs: [],
};
const idle: Statuses = {};
/** Milliseconds each phase waited for the jobs before it to be done, by phase. */
const drains: Record<string, number> = {};
try {
  const platform = await startPlatform({
    services,
    modelsDir,
    defaultModel: tinyModelName,
    workers: Number(values.workers),
    queueName: `bench-${randomUUID()}`,
    worker: { MAX_BATCH_SIZE: '32', WORKER_CONCURRENCY: '64', ...envFlag(values['worker-env']) },
    api: { TIER_OVERRIDES: tierOverrides, ...envFlag(values['api-env']) },
    apis: Number(values.apis),
    cpuProfileDir: values['cpu-prof'],
  });
  const apiPids = platform.apis.map((api) => api.pid);
  /** This database's Postgres backends are the server's children, not ours: pinned as they come. */
  const pinPostgres = async () => {
    if (restCpus) pinToCpus(await services.postgresPids(), restCpus);
  };
  if (apiCpus) pinToCpus(apiPids.flatMap(withDescendants), apiCpus);
  try {
    const [pro] = await benchUsers(services, 1, 'pro');
    const [free] = await benchUsers(services, 1, 'free');
    // With several API processes, the pro user's submits go to each in turn, as a load balancer's would.
    const https = platform.apis.map((api) => new HttpClient(api.url, { connections: 64 }));
    let next = 0;
    // The free user floods from a process of its own, as another client would: this process's
    // event loop reads the pro user's answers only, so their latencies are the server's.
    const flooder = await FloodProcess.start({
      urls: platform.apis.map((api) => api.url),
      headers: free!.headers,
      upload: floodImage.upload,
      connections: floodClients,
    });
    /** Waits until no job is queued or running, so that what comes next has the machine to itself. */
    const drain = async (phase: string) => {
      const started = performance.now();
      const db = new pg.Client({ connectionString: services.databaseUrl });
      await db.connect();
      try {
        for (;;) {
          const { rows } = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM jobs WHERE status IN (${inFlightStatusesSql})`,
          );
          if (rows[0]!.n === 0) break;
          if (performance.now() - started > 120_000) throw new Error(`${rows[0]!.n} jobs still in flight after 120 s`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        await db.end();
      }
      drains[phase] = performance.now() - started;
    };
    const submit = (upload: MultipartBody, headers: Record<string, string>) =>
      https[next++ % https.length]!.request('POST', '/v1/jobs', { body: upload, headers, timeoutMs: 10_000 });

    // Warm-up: connections, JIT, the model catalog.
    for (let i = 0; i < 20; i++) await submit(proImage.upload, pro!.headers);

    // One user alone on an idle server, all at once.
    for (const answer of await Promise.all(
      Array.from({ length: idleBurst }, () => submit(proImage.upload, pro!.headers)),
    ))
      count(idle, outcome(answer.status, answer.body));
    await new Promise((resolve) => setTimeout(resolve, 500));

    const runPhase = async (name: string, flooding: boolean): Promise<Phase> => {
      const proStatuses: Statuses = {};
      const floodStatuses: Statuses = {};
      const latencies: number[] = [];
      let timeouts = 0;
      if (!flooding) await drain(name);
      if (flooding) {
        await flooder.flood(floodClients);
        await new Promise((resolve) => setTimeout(resolve, 500)); // the flood is under way
      }
      await pinPostgres();
      const meter = new CpuMeter();
      meter.start(apiPids);
      const sent = await openLoop({
        rate,
        durationMs,
        fire: async (_i, scheduledAt) => {
          try {
            const answer = await submit(proImage.upload, pro!.headers);
            count(proStatuses, outcome(answer.status, answer.body));
            if (answer.status === 202) latencies.push(performance.now() - scheduledAt);
          } catch (error) {
            if (error instanceof TimeoutError) timeouts++;
            else throw error;
          }
        },
      });
      const apiCores = meter.since(apiPids) / sent.wallMs;
      if (flooding) addAll(floodStatuses, await flooder.stop());
      return {
        name,
        pro: { statuses: proStatuses, ms: summarize(latencies), timeouts },
        flood: floodStatuses,
        apiCores,
      };
    };

    phases = [
      await runPhase('pro alone', false),
      await runPhase(`pro beside ${floodClients} flooding free submits`, true),
    ];

    const proBurstOf = (latencies: number[]) =>
      Array.from({ length: proBurst }, async () => {
        const started = performance.now();
        const answer = await submit(proImage.upload, pro!.headers);
        if (answer.status === 202) latencies.push(performance.now() - started);
        return answer;
      });
    // The pro user's burst alone first: the reference its burst beside the flood is read against.
    await drain('burst alone');
    for (let round = 0; round < rounds; round++) {
      await Promise.all(proBurstOf(burst.aloneMs));
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await drain('burst beside the flood');
    await pinPostgres();
    for (let round = 0; round < rounds; round++) {
      const { answered } = await flooder.burst(floodClients);
      await new Promise((resolve) => setTimeout(resolve, 10));
      for (const answer of await Promise.all(proBurstOf(burst.proMs)))
        count(burst.pro, outcome(answer.status, answer.body));
      addAll(burst.flood, await answered);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await Promise.all(https.map((http) => http.close()));
    await flooder.close();
  } finally {
    await platform.stop();
  }
} finally {
  await services.stop();
  rmSync(modelsDir, { recursive: true, force: true });
}
const after = machineLoad();

const show = (statuses: Statuses) =>
  Object.entries(statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => `${key}: ${n}`)
    .join(', ');
const proRefused = (statuses: Statuses) =>
  Object.entries(statuses).reduce((sum, [key, n]) => sum + (key === '202' ? 0 : n), 0);
console.log();
printTable(
  phases.map((phase) => ({
    phase: phase.name,
    'pro 202': phase.pro.statuses['202'] ?? 0,
    'pro refused': proRefused(phase.pro.statuses) + phase.pro.timeouts,
    'pro p50': formatMs(phase.pro.ms.p50),
    'pro p99': formatMs(phase.pro.ms.p99),
    'API cores busy': phase.apiCores.toFixed(2),
  })),
);
for (const phase of phases) {
  if (proRefused(phase.pro.statuses) > 0) console.log(`${phase.name}: pro answers ${show(phase.pro.statuses)}`);
  if (Object.keys(phase.flood).length > 0) console.log(`${phase.name}: free answers ${show(phase.flood)}`);
}
const [alone, beside] = phases;
if (alone && beside)
  console.log(
    `\npro p99 beside the flood / alone: ${(beside.pro.ms.p99 / alone.pro.ms.p99).toFixed(2)}× (${formatMs(beside.pro.ms.p99)} / ${formatMs(alone.pro.ms.p99)})`,
  );
const burstMs = summarize(burst.proMs);
const burstAloneMs = summarize(burst.aloneMs);
console.log(
  `burst, ${rounds} rounds of ${proBurst} pro submits at once alone: p50 ${formatMs(burstAloneMs.p50)}, p99 ${formatMs(burstAloneMs.p99)}`,
);
console.log(
  `burst, ${rounds} rounds of ${floodClients} free then ${proBurst} pro submits: pro ${show(burst.pro)} (p50 ${formatMs(burstMs.p50)}, p99 ${formatMs(burstMs.p99)}); free ${show(burst.flood)}`,
);
console.log(
  `pro burst p99 beside the flood / alone: ${(burstMs.p99 / burstAloneMs.p99).toFixed(2)}× (${formatMs(burstMs.p99)} / ${formatMs(burstAloneMs.p99)})`,
);
console.log(`idle burst of ${idleBurst} submits from one pro user: ${show(idle)}`);
console.log(
  `waited for the jobs before each phase to be done: ${Object.entries(drains)
    .map(([phase, ms]) => `${phase} ${formatMs(ms)}`)
    .join(', ')}`,
);
console.log(`load average: ${before.load1} before, ${after.load1} after`);
const file = writeResults('fairness', {
  rate,
  seconds: Number(values.seconds),
  flood: floodClients,
  proBurst,
  idleBurst,
  idle,
  rounds,
  image: values.image,
  floodImage: values['flood-image'],
  apiCpus: apiCpus ?? null,
  phases,
  burst,
  drains,
  load: { before, after },
});
console.log(`wrote ${file}`);
