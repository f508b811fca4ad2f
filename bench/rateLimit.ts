// How fast the API refuses a flood: p50/p99 latency of 429 answers to a user over their rate limit
// (polls and uploads) and to a key-guessing address, next to a normal 200, under autocannon on
// loopback. One API process (NODE_ENV=production, info logs to /dev/null), Postgres, Redis.
//   DATABASE_URL=… pnpm bench ratelimit [--seconds 5] [--connections 1,16]
// One connection gives the cost of one answer; sixteen saturate the API (queueing included).
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { drawingImage } from '@inferq/images/testing';
import { benchLogDir, createTestUser, freePort, repoRoot, startService, startTestServices } from '@inferq/testing';
import { multipartImage } from './lib/loadClient.ts';
import { formatMs, printTable, quantile, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '1,16' } },
});
const seconds = Math.min(30, Number(values.seconds));
const connectionCounts = values.connections.split(',').map(Number);

const services = await startTestServices();
const port = await freePort();
const baseUrl = `http://127.0.0.1:${port}`;
// Small free-tier budgets so the flood is refused from the first second; pro is effectively unlimited (the baseline).
const tierOverrides = {
  free: { requestsPerWindow: 5, submitsPerWindow: 5, submitBurst: 0, rateWindowSeconds: 600 },
  pro: { requestsPerWindow: 100_000_000, rateWindowSeconds: 600 },
};
const api = await startService({
  name: 'api',
  entry: 'apps/api/src/index.ts',
  port,
  logDir: benchLogDir(),
  env: {
    LOG_LEVEL: 'info',
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    QUEUE_PREFIX: services.queuePrefix,
    QUEUE_NAME: 'bench-ratelimit',
    MODELS_DIR: path.join(repoRoot, 'models'),
    HOST: '127.0.0.1',
    PORT: String(port),
    TIER_OVERRIDES: JSON.stringify(tierOverrides),
    AUTH_FAILURES_PER_MINUTE: '5',
  },
});

interface Scenario {
  name: string;
  expect: number;
  /** Runs just before the flood (e.g. uses up a budget). */
  prepare?: () => Promise<void>;
  request: { method: 'GET' | 'POST'; path: string; headers: Record<string, string>; body?: Buffer };
}

interface Measured {
  name: string;
  connections: number;
  requests: number;
  perSecond: number;
  expectedShare: number;
  latencies: number[];
}

function flood(scenario: Scenario, connections: number): Promise<Measured> {
  const latencies: number[] = [];
  let expected = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${baseUrl}${scenario.request.path}`,
        method: scenario.request.method,
        headers: scenario.request.headers,
        ...(scenario.request.body ? { body: scenario.request.body } : {}),
        connections,
        duration: seconds,
      },
      (error, result) => {
        if (error) return reject(error);
        resolve({
          name: scenario.name,
          connections,
          requests: latencies.length,
          perSecond: result.requests.average,
          expectedShare: expected / Math.max(1, latencies.length),
          latencies,
        });
      },
    );
    // autocannon's own histogram has 1 ms resolution; keep every response time (hrtime, ms).
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      if (statusCode === scenario.expect) expected++;
    });
  });
}

try {
  const [limited, uploader, baseline] = await Promise.all([
    createTestUser(services.databaseUrl),
    createTestUser(services.databaseUrl),
    createTestUser(services.databaseUrl, { tier: 'pro' }),
  ]);
  const upload = multipartImage(
    await sharp(await drawingImage(256, 256))
      .jpeg()
      .toBuffer(),
    'a.jpg',
    'image/jpeg',
  );

  // A job of the baseline user's to poll, and the limited users' budgets used up before the floods.
  const submitted = await fetch(`${baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: { ...baseline.headers, 'content-type': upload.contentType },
    body: new Uint8Array(upload.body),
  });
  if (submitted.status !== 202) throw new Error(`baseline submit answered ${submitted.status}`);
  const jobPath = `/v1/jobs/${((await submitted.json()) as { id: string }).id}`;
  for (let i = 0; i < 6; i++) await fetch(`${baseUrl}${jobPath}`, { headers: limited.headers });
  for (let i = 0; i < 6; i++) {
    await fetch(`${baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...uploader.headers, 'content-type': upload.contentType },
      body: new Uint8Array(upload.body),
    });
  }
  // Last: once the address is over its failure limit, its failing requests are refused (a valid key from it still passes).
  const badKey = { authorization: 'Bearer iq_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };

  const scenarios: Scenario[] = [
    {
      name: '200 poll (pro, under its limit)',
      expect: 200,
      request: { method: 'GET', path: jobPath, headers: baseline.headers },
    },
    {
      name: '429 poll (user over limit)',
      expect: 429,
      request: { method: 'GET', path: jobPath, headers: limited.headers },
    },
    {
      name: `429 upload ${(upload.body.length / 1024).toFixed(0)} KiB (user over limit)`,
      expect: 429,
      request: {
        method: 'POST',
        path: '/v1/jobs',
        headers: { ...uploader.headers, 'content-type': upload.contentType },
        body: upload.body,
      },
    },
    {
      name: '429 key guessing (address over limit)',
      expect: 429,
      request: { method: 'GET', path: jobPath, headers: badKey },
      prepare: async () => {
        for (let i = 0; i < 6; i++) await fetch(`${baseUrl}${jobPath}`, { headers: badKey });
      },
    },
  ];
  const load = { cores: os.availableParallelism(), load1: os.loadavg()[0]! };
  const measured: Measured[] = [];
  for (const scenario of scenarios) {
    await scenario.prepare?.();
    for (const connections of connectionCounts) measured.push(await flood(scenario, connections));
  }

  console.log(
    `\n${seconds} s per row on loopback; ${load.cores} cores, load ${load.load1.toFixed(2)} before the run\n`,
  );
  printTable(
    measured.map((entry) => ({
      scenario: entry.name,
      conns: entry.connections,
      requests: entry.requests,
      'req/s': Math.round(entry.perSecond),
      'expected status': `${(entry.expectedShare * 100).toFixed(1)} %`,
      p50: formatMs(quantile(entry.latencies, 0.5)),
      p90: formatMs(quantile(entry.latencies, 0.9)),
      p99: formatMs(quantile(entry.latencies, 0.99)),
      max: formatMs(Math.max(...entry.latencies)),
    })),
  );
  console.log('');
  for (const entry of measured) {
    const baseline = measured.find(
      (candidate) =>
        candidate.expectedShare > 0 &&
        candidate.name === measured[0]!.name &&
        candidate.connections === entry.connections,
    );
    if (!baseline || baseline === entry) continue;
    const ratio = quantile(entry.latencies, 0.5) / quantile(baseline.latencies, 0.5);
    console.log(`${entry.name}, ${entry.connections} conn: p50 ${ratio.toFixed(2)}× the 200 poll's`);
  }
  const file = writeResults('ratelimit', {
    seconds,
    machine: load,
    scenarios: measured.map((entry) => ({
      name: entry.name,
      connections: entry.connections,
      requests: entry.requests,
      perSecond: entry.perSecond,
      expectedShare: entry.expectedShare,
      p50: quantile(entry.latencies, 0.5),
      p90: quantile(entry.latencies, 0.9),
      p99: quantile(entry.latencies, 0.99),
      max: Math.max(...entry.latencies),
    })),
  });
  console.log(`\nwrote ${file}`);
} finally {
  await api.stop();
  await services.stop();
}
