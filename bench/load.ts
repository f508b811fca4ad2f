// Load: a flood of submissions far beyond what the workers can serve, on loopback (autocannon),
// then the drain. Targets: the API answers every submission (202, 429 or 503) with p99 < 100 ms,
// no other 5xx, its memory stays bounded, and afterwards every accepted job completes.
//   DATABASE_URL=… REDIS_URL=… pnpm bench load [--seconds 60] [--rate 40] [--connections 16]
//     [--workers 1] [--queue-cap 400] [--worker-nice 10] [--drain-timeout 900]
// Users: half on the free tier (their rate limit answers 429), half on pro (they fill the queue
// up to the global cap, then 503 QUEUE_FULL). One API process, W worker processes, logs at warn.
// The workers run at a lower CPU priority (nice): in production the API does not share its cores
// with saturated model workers, and on a small machine they would otherwise take its CPU away.
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import sharp from 'sharp';
import { photoLikeImage } from '@inferq/images/testing';
import {
  benchLogDir,
  createTestUser,
  freePort,
  repoRoot,
  startService,
  type ServiceProcess,
  type TestUser,
} from '@inferq/testing';
import { multipartImage } from './lib/loadClient.ts';
import { rssMiB } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, quantile, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '40' },
    connections: { type: 'string', default: '16' },
    workers: { type: 'string', default: '1' },
    users: { type: 'string', default: '8' },
    'queue-cap': { type: 'string', default: '400' },
    'worker-nice': { type: 'string', default: '10' },
    'drain-timeout': { type: 'string', default: '900' },
    /** Write a V8 CPU profile of the API (node --cpu-prof) into this folder. */
    'cpu-prof': { type: 'string' },
  },
});
// Bounded: at most 2 minutes of flood, at most 20 minutes of drain.
const seconds = Math.min(120, Number(values.seconds));
const rate = Number(values.rate);
const connections = Number(values.connections);
const workerCount = Number(values.workers);
const queueCap = Number(values['queue-cap']);
const drainTimeoutMs = Math.min(1200, Number(values['drain-timeout'])) * 1000;

/** Resident set size of a process in bytes; 0 once it is gone. */
const rssOf = (pid: number): number => (rssMiB(pid) ?? 0) * 1024 * 1024;

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

async function unfinished(
  databaseUrl: string,
  userIds: string[],
): Promise<{ open: number; succeeded: number; failed: number; total: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ status: string; n: string }>(
      'SELECT status, count(*) AS n FROM jobs WHERE user_id = ANY($1::uuid[]) GROUP BY status',
      [userIds],
    );
    const count = (status: string) => Number(rows.find((row) => row.status === status)?.n ?? 0);
    const total = rows.reduce((sum, row) => sum + Number(row.n), 0);
    return { open: count('queued') + count('running'), succeeded: count('succeeded'), failed: count('failed'), total };
  } finally {
    await client.end();
  }
}

const services = await startBenchServices({ sharedRedis: true });
const children: ServiceProcess[] = [];
try {
  const apiPort = await freePort();
  const baseUrl = `http://127.0.0.1:${apiPort}`;
  const common = {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    QUEUE_PREFIX: services.queuePrefix,
    QUEUE_NAME: 'bench-load',
    MODELS_DIR: path.join(repoRoot, 'models'),
    BLOB_STORE_URL: services.blobStoreUrl,
    LOG_LEVEL: 'warn',
  };
  const logDir = benchLogDir();
  const started = (service: ServiceProcess) => (children.push(service), service);
  const [api, ...workers] = await Promise.all([
    startService({
      name: 'api',
      entry: 'apps/api/src/index.ts',
      port: apiPort,
      logDir,
      cpuProfileDir: values['cpu-prof'],
      env: { ...common, HOST: '127.0.0.1', PORT: String(apiPort), MAX_QUEUED_JOBS: String(queueCap) },
    }).then(started),
    ...Array.from({ length: workerCount }, async (_, i) => {
      const port = await freePort();
      const worker = started(
        await startService({
          name: `worker-${i}`,
          entry: 'apps/worker/src/index.ts',
          port,
          logDir,
          env: {
            ...common,
            WORKER_HOST: '127.0.0.1',
            WORKER_PORT: String(port),
            WORKER_ID: `load-${i}`,
            TF_BACKEND: 'wasm',
          },
        }),
      );
      os.setPriority(worker.pid, Number(values['worker-nice']));
      return worker;
    }),
  ]);

  const userCount = Math.max(2, Number(values.users));
  const users: TestUser[] = await Promise.all(
    Array.from({ length: userCount }, (_, i) =>
      createTestUser(services.databaseUrl, { tier: i % 2 === 0 ? 'free' : 'pro' }),
    ),
  );
  const image = await sharp(await photoLikeImage(256, 256, 'jpeg'))
    .jpeg({ quality: 85 })
    .toBuffer();
  const upload = multipartImage(image, 'a.jpg', 'image/jpeg');

  const statuses: Record<number, number> = {};
  const answered: number[] = [];
  const memory = { apiMin: Number.POSITIVE_INFINITY, apiMax: 0, workerMax: 0, samples: [] as number[] };
  const sampleMemory = () => {
    const apiRss = rssOf(api.pid);
    memory.apiMin = Math.min(memory.apiMin, apiRss);
    memory.apiMax = Math.max(memory.apiMax, apiRss);
    memory.samples.push(apiRss);
    for (const worker of workers) memory.workerMax = Math.max(memory.workerMax, rssOf(worker.pid));
  };
  sampleMemory();
  const apiRssBefore = rssOf(api.pid);
  const sampler = setInterval(sampleMemory, 1000);
  const loadBefore = os.loadavg()[0]!;
  console.log(
    `flood: ${rate} submissions/s for ${seconds} s over ${connections} connections, ${userCount} users (half free, half pro), ${(upload.body.length / 1024).toFixed(1)} KiB uploads, queue cap ${queueCap}, ${workerCount} worker(s) at nice ${values['worker-nice']}; ${os.availableParallelism()} cores, load ${loadBefore.toFixed(2)}`,
  );

  let next = 0;
  const byStatus: Record<number, number[]> = {};
  const floodStarted = Date.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${baseUrl}/v1/jobs`,
        method: 'POST',
        connections,
        overallRate: rate,
        duration: seconds,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: '/v1/jobs',
            body: upload.body,
            // Each request as the next user, so every tier path is exercised throughout.
            setupRequest: (request) => ({
              ...request,
              headers: { ...users[next++ % users.length]!.headers, 'content-type': upload.contentType },
            }),
          },
        ],
      },
      (error, finished) => (error ? reject(error) : resolve(finished)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      answered.push(responseTime);
      (byStatus[statusCode] ??= []).push(responseTime);
    });
  });
  const floodMs = Date.now() - floodStarted;
  sampleMemory();
  const apiRssAfterFlood = rssOf(api.pid);

  // The drain: every accepted job must reach a final state.
  const userIds = users.map((user) => user.userId);
  const drainStarted = Date.now();
  let jobs = await unfinished(services.databaseUrl, userIds);
  while (jobs.open > 0 && Date.now() - drainStarted < drainTimeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    jobs = await unfinished(services.databaseUrl, userIds);
  }
  const drainMs = Date.now() - drainStarted;
  clearInterval(sampler);
  sampleMemory();
  const apiRssEnd = rssOf(api.pid);

  const accepted = statuses[202] ?? 0;
  const fiveHundreds = Object.entries(statuses).filter(([status]) => Number(status) >= 500 && Number(status) !== 503);
  const p99 = quantile(answered, 0.99);
  console.log();
  printTable([
    {
      requests: answered.length,
      'req/s': (answered.length / (floodMs / 1000)).toFixed(0),
      '202': accepted,
      '429': statuses[429] ?? 0,
      '503': statuses[503] ?? 0,
      other:
        Object.entries(statuses)
          .filter(([status]) => !['202', '429', '503'].includes(status))
          .map(([status, n]) => `${status}×${n}`)
          .join(' ') || '-',
      errors: result.errors,
      timeouts: result.timeouts,
      p50: formatMs(quantile(answered, 0.5)),
      p90: formatMs(quantile(answered, 0.9)),
      p99: formatMs(p99),
      max: formatMs(Math.max(...answered)),
    },
  ]);
  console.log();
  printTable(
    Object.entries(byStatus).map(([status, times]) => ({
      status,
      answers: times.length,
      p50: formatMs(quantile(times, 0.5)),
      p90: formatMs(quantile(times, 0.9)),
      p99: formatMs(quantile(times, 0.99)),
      max: formatMs(Math.max(...times)),
    })),
  );
  console.log();
  printTable([
    {
      'API RSS before': mib(apiRssBefore),
      'max during flood': mib(memory.apiMax),
      'after flood': mib(apiRssAfterFlood),
      'after drain': mib(apiRssEnd),
      'worker RSS max': mib(memory.workerMax),
      'jobs stored': jobs.total,
      succeeded: jobs.succeeded,
      failed: jobs.failed,
      'still open': jobs.open,
      drain: `${(drainMs / 1000).toFixed(0)} s`,
    },
  ]);
  const checks = [
    ['p99 of all answers < 100 ms', p99 < 100],
    ['no 5xx other than 503', fiveHundreds.length === 0 && result.errors === 0 && result.timeouts === 0],
    // Answers still in flight when the flood ends are not counted by autocannon, but stored.
    [
      'every 202 stored (plus at most the requests in flight at the end)',
      jobs.total >= accepted && jobs.total <= accepted + connections,
    ],
    ['every stored job completed', jobs.open === 0 && jobs.succeeded === jobs.total],
    ['API memory bounded (max < 2 × start + 256 MiB)', memory.apiMax < 2 * apiRssBefore + 256 * 1024 * 1024],
  ] as const;
  console.log();
  for (const [name, ok] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}`);
  const file = writeResults('load', {
    seconds,
    rate,
    connections,
    workers: workerCount,
    users: userCount,
    queueCap,
    uploadBytes: upload.body.length,
    machine: { cores: os.availableParallelism(), load1Before: loadBefore, load1After: os.loadavg()[0] },
    statuses,
    latencyMs: { p50: quantile(answered, 0.5), p90: quantile(answered, 0.9), p99, max: Math.max(...answered) },
    latencyByStatusMs: Object.fromEntries(
      Object.entries(byStatus).map(([status, times]) => [
        status,
        { p50: quantile(times, 0.5), p99: quantile(times, 0.99) },
      ]),
    ),
    memory: {
      apiBefore: apiRssBefore,
      apiMax: memory.apiMax,
      apiAfterFlood: apiRssAfterFlood,
      apiAfterDrain: apiRssEnd,
      workerMax: memory.workerMax,
    },
    jobs,
    drainMs,
    checks: Object.fromEntries(checks),
  });
  console.log(`wrote ${file}`);
  if (checks.some(([, ok]) => !ok)) process.exitCode = 1;
} finally {
  await Promise.all(children.map((child) => child.stop()));
  await services.stop();
}
