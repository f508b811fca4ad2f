// 4. Naive baseline: an Express server running model.predict in the request handler (cap on
// requests in progress, 503 when full) against the platform, same model, backend, processes and
// clients. Low load (a closed loop of a few clients) and overload (an open loop at a multiple of
// the naive server's measured capacity, each client giving up after --timeout seconds).
//   pnpm bench naive [--workers 1] [--clients 2] [--seconds 15] [--overload 3] [--overload-seconds 10] [--timeout 5] [--cap 8]
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchLogDir, freePort, repoRoot, startService } from '@inferq/testing';
import { benchImage } from './lib/benchImage.ts';
import { closedLoop, HttpClient, openLoop, TimeoutError, waitForJob } from './lib/loadClient.ts';
import { envFlag, startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, summarize, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1' },
    clients: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '15' },
    overload: { type: 'string', default: '3' },
    'overload-seconds': { type: 'string', default: '10' },
    timeout: { type: 'string', default: '5' },
    cap: { type: 'string', default: '8' },
    image: { type: 'string', default: '1024x768' },
    model: { type: 'string', default: 'nsfw' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
    'shared-redis': { type: 'boolean', default: false },
    /** Extra environment for the workers / the API, `KEY=VALUE,…` (e.g. WORKER_NICE=0). */
    'worker-env': { type: 'string' },
    'api-env': { type: 'string' },
  },
});
const workers = Number(values.workers);
const clients = Number(values.clients);
const timeoutMs = Number(values.timeout) * 1000;
const image = await benchImage(values.image);
const before = machineLoad();
console.log(
  `naive baseline vs platform: ${values.model} on wasm, ${values.image} JPEG, ${workers} process(es) each, naive cap ${values.cap}; ${before.uptime}`,
);

interface Row {
  system: 'naive' | 'platform';
  phase: 'low load' | 'overload';
  offered: string;
  answered: number;
  jobsPerSecond: number;
  latencyMs: ReturnType<typeof summarize>;
  /** Answered with a result within the client's timeout. */
  withinTimeout: number;
  refused: number;
  timeouts: number;
  /** Platform only: answer time of the submit itself. */
  submitMs?: ReturnType<typeof summarize>;
}
const rows: Row[] = [];

/** A row from the latencies of the successful answers of a run of `wallMs`. */
function resultRow(
  run: Pick<Row, 'system' | 'phase' | 'offered' | 'refused' | 'timeouts' | 'submitMs'>,
  latencies: number[],
  wallMs: number,
): Row {
  return {
    ...run,
    answered: latencies.length,
    jobsPerSecond: (latencies.length * 1000) / wallMs,
    latencyMs: summarize(latencies),
    withinTimeout: latencies.filter((ms) => ms <= timeoutMs).length,
  };
}

/** A closed loop of `clients` clients for --seconds; `request` resolves with the latency of one successful answer or null. */
async function lowLoad(system: Row['system'], request: (client: number) => Promise<number | null>): Promise<Row> {
  await closedLoop({ clients, jobs: clients * 2, task: async (client) => void (await request(client)) });
  const latencies: number[] = [];
  let refused = 0;
  const wallMs = await closedLoop({
    clients,
    durationMs: Number(values.seconds) * 1000,
    task: async (client) => {
      const ms = await request(client);
      if (ms === null) refused++;
      else latencies.push(ms);
    },
  });
  return resultRow(
    { system, phase: 'low load', offered: `${clients} clients`, refused, timeouts: 0 },
    latencies,
    wallMs,
  );
}

// Naive server first: its capacity sets the overload rate for both.
const naivePort = await freePort();
const naive = await startService({
  name: 'naive',
  entry: 'bench/lib/naiveServer.ts',
  args: [
    '--port',
    String(naivePort),
    '--model',
    values.model,
    '--models-dir',
    values['models-dir'],
    '--cap',
    values.cap,
    '--processes',
    String(workers),
  ],
  port: naivePort,
  logDir: benchLogDir(),
  env: {},
  readyPath: '/healthz',
});
let rate: number;
try {
  const http = new HttpClient(naive.url, { connections: 256 });
  const predict = async (): Promise<{ ms: number | null; timedOut: boolean }> => {
    const started = performance.now();
    try {
      const answer = await http.request('POST', '/predict', { body: image.upload, timeoutMs });
      return { ms: answer.status === 200 ? performance.now() - started : null, timedOut: false };
    } catch (error) {
      if (error instanceof TimeoutError) return { ms: null, timedOut: true };
      throw error;
    }
  };
  const low = await lowLoad('naive', async () => (await predict()).ms);
  rows.push(low);
  rate = Math.max(1, low.jobsPerSecond * Number(values.overload));
  const latencies: number[] = [];
  let refused = 0;
  let timeouts = 0;
  const started = performance.now();
  await openLoop({
    rate,
    durationMs: Number(values['overload-seconds']) * 1000,
    fire: async (_i, scheduledAt) => {
      try {
        const answer = await http.request('POST', '/predict', { body: image.upload, timeoutMs });
        if (answer.status === 200) latencies.push(performance.now() - scheduledAt);
        else refused++;
      } catch (error) {
        if (error instanceof TimeoutError) timeouts++;
        else throw error;
      }
    },
  });
  const wallMs = performance.now() - started;
  rows.push(
    resultRow(
      { system: 'naive', phase: 'overload', offered: `${rate.toFixed(1)}/s`, refused, timeouts },
      latencies,
      wallMs,
    ),
  );
  await http.close();
} finally {
  await naive.stop();
}

const services = await startBenchServices({ sharedRedis: values['shared-redis'] });
try {
  const platform = await startPlatform({
    services,
    modelsDir: values['models-dir'],
    defaultModel: values.model,
    workers,
    queueName: `bench-${randomUUID()}`,
    worker: envFlag(values['worker-env']),
    api: envFlag(values['api-env']),
  });
  try {
    const users = await benchUsers(services, 16);
    const http = new HttpClient(platform.api.url, { connections: 256 });
    rows.push(
      await lowLoad('platform', async (client) => {
        const headers = users[client % users.length]!.headers;
        const started = performance.now();
        const answer = await http.request<{ id: string }>('POST', '/v1/jobs', { body: image.upload, headers });
        if (answer.status !== 202) return null;
        const job = await waitForJob(http, answer.body.id, { headers });
        return job.status === 'succeeded' ? performance.now() - started : null;
      }),
    );
    const latencies: number[] = [];
    const submits: number[] = [];
    let refused = 0;
    let timeouts = 0;
    const started = performance.now();
    await openLoop({
      rate,
      durationMs: Number(values['overload-seconds']) * 1000,
      fire: async (i, scheduledAt) => {
        const headers = users[i % users.length]!.headers;
        let answer;
        try {
          answer = await http.request<{ id: string }>('POST', '/v1/jobs', { body: image.upload, headers, timeoutMs });
        } catch (error) {
          if (error instanceof TimeoutError) return void timeouts++;
          throw error;
        }
        submits.push(performance.now() - scheduledAt);
        if (answer.status !== 202) return void refused++;
        // The client waits with bounded long polls, each answered on time, until its job is done.
        const job = await waitForJob(http, answer.body.id, {
          headers,
          waitSeconds: Math.max(1, Number(values.timeout) - 1),
          deadlineMs: 300_000,
        });
        if (job.status === 'succeeded') latencies.push(performance.now() - scheduledAt);
      },
    });
    const wallMs = performance.now() - started;
    rows.push(
      resultRow(
        {
          system: 'platform',
          phase: 'overload',
          offered: `${rate.toFixed(1)}/s`,
          refused,
          timeouts,
          submitMs: summarize(submits),
        },
        latencies,
        wallMs,
      ),
    );
    await http.close();
  } finally {
    await platform.stop();
  }
} finally {
  await services.stop();
}
const after = machineLoad();

console.log();
printTable(
  rows.map((row) => ({
    system: row.system,
    phase: row.phase,
    offered: row.offered,
    'results/s': row.jobsPerSecond.toFixed(1),
    'p50 / p99 (result)': `${formatMs(row.latencyMs.p50)} / ${formatMs(row.latencyMs.p99)}`,
    [`results within ${values.timeout} s`]: row.withinTimeout,
    'refused (503)': row.refused,
    timeouts: row.timeouts,
    'submit p50 / p99': row.submitMs ? `${formatMs(row.submitMs.p50)} / ${formatMs(row.submitMs.p99)}` : '',
  })),
);
console.log(
  `\nlatency counts from each request's scheduled start; the platform's results keep coming after the load stops (its queue drains), the naive server's refused requests are lost.`,
);
console.log(`load average: ${before.load1} before, ${after.load1} after`);
const file = writeResults('naive', {
  model: values.model,
  image: values.image,
  workers,
  clients,
  cap: Number(values.cap),
  timeoutSeconds: Number(values.timeout),
  rate,
  rows,
  load: { before, after },
});
console.log(`wrote ${file}`);
