// How the live event streams scale: API latency (GET /v1/jobs/:id and /healthz, p50/p99) and API
// memory with no streams and with N open dashboard streams (GET /v1/events) receiving job events,
// plus how long an event takes from publish to every stream, and the API's Redis and Postgres
// connections in both cases (they must not grow with the streams).
//   DATABASE_URL=… pnpm bench streams [--streams 200] [--seconds 5] [--events 50]
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { photoLikeImage } from '@inferq/images/testing';
import { benchLogDir, createTestUser, freePort, repoRoot, startService, type TestUser } from '@inferq/testing';
import { rssMiB } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, quantile, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '5' },
    events: { type: 'string', default: '50' },
  },
});
const streamCount = Math.min(2000, Number(values.streams));
const seconds = Math.min(30, Number(values.seconds));
const eventsPerSecond = Math.min(1000, Number(values.events));

const services = await startBenchServices();
const port = await freePort();
const baseUrl = `http://127.0.0.1:${port}`;
const api = await startService({
  name: 'api',
  entry: 'apps/api/src/index.ts',
  port,
  logDir: benchLogDir(),
  env: {
    LOG_LEVEL: 'warn',
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    QUEUE_PREFIX: services.queuePrefix,
    QUEUE_NAME: 'bench-streams',
    BLOB_STORE_URL: services.blobStoreUrl,
    MODELS_DIR: path.join(repoRoot, 'models'),
    HOST: '127.0.0.1',
    PORT: String(port),
    // The measuring loop polls far above a tier's request budget.
    TIER_OVERRIDES: JSON.stringify({
      free: { requestsPerWindow: 100_000_000 },
      pro: { requestsPerWindow: 100_000_000 },
    }),
  },
});

/** Sequential requests for `seconds`: each latency in ms. */
async function measure(url: string, headers: Record<string, string>, forSeconds = seconds): Promise<number[]> {
  const latencies: number[] = [];
  const deadline = performance.now() + forSeconds * 1000;
  while (performance.now() < deadline) {
    const started = performance.now();
    const response = await fetch(url, { headers });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    latencies.push(performance.now() - started);
  }
  return latencies;
}

/** The API's own connections to Redis (named inferq-api*) and to this run's database. */
async function connections(redis: Redis, db: pg.Client): Promise<{ redis: number; postgres: number }> {
  const clients = (await redis.client('LIST')) as string;
  const ours = clients.split('\n').filter((line) => /name=inferq-api/.test(line)).length;
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  );
  return { redis: ours, postgres: Number(rows[0]!.n) };
}

interface Stream {
  controller: AbortController;
  ready: Promise<void>;
  jobEvents: number;
}

/** Opens one dashboard stream and counts its job events; each delivery delay goes to `delays`. */
function openStream(user: TestUser, delays: number[]): Stream {
  const controller = new AbortController();
  const stream: Stream = { controller, ready: Promise.resolve(), jobEvents: 0 };
  stream.ready = (async () => {
    const response = await fetch(`${baseUrl}/v1/events`, { headers: user.headers, signal: controller.signal });
    if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let resolveReady!: () => void;
    const ready = new Promise<void>((resolve) => (resolveReady = resolve));
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (block.includes('event: ready')) resolveReady();
            if (block.includes('event: job')) {
              stream.jobEvents++;
              const at = /"at":"([^"]+)"/.exec(block)?.[1];
              if (at) delays.push(Date.now() - Date.parse(at));
            }
          }
        }
      } catch {
        // aborted at the end
      }
    })();
    await ready;
  })();
  return stream;
}

const results: Record<string, unknown> = { streams: streamCount, seconds, eventsPerSecond };
try {
  const monitorRedis = new Redis(services.redisUrl);
  const monitorDb = new pg.Client({ connectionString: services.databaseUrl });
  await monitorDb.connect();
  // One stream per browser tab: users with ten tabs each, and one admin in ten (queue snapshots too).
  const userCount = Math.max(1, Math.ceil(streamCount / 10));
  const users = await Promise.all(
    Array.from({ length: userCount }, (_, index) =>
      createTestUser(services.databaseUrl, { role: index % 10 === 0 ? 'admin' : 'user' }),
    ),
  );
  const owner = users[1] ?? users[0]!;
  const form = new FormData();
  form.set('image', new Blob([new Uint8Array(await photoLikeImage(64, 48))]), 'image.jpg');
  const submitted = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', headers: owner.headers, body: form });
  const { id: jobId } = (await submitted.json()) as { id: string };
  const jobUrl = `${baseUrl}/v1/jobs/${jobId}`;

  // Job events as the workers publish them, spread over the users, for the whole run.
  const publisher = new Redis(services.redisUrl);
  const channel = `${services.queuePrefix}:job-events`;
  let published = 0;
  const publishTimer = setInterval(() => {
    const user = users[published % users.length]!;
    published++;
    void publisher.publish(
      channel,
      JSON.stringify({
        jobId: randomUUID(),
        userId: user.userId,
        status: 'running',
        model: 'nsfw',
        at: new Date().toISOString(),
      }),
    );
  }, 1000 / eventsPerSecond);

  const rows: Array<Record<string, string | number>> = [];
  async function phase(name: string, delays: number[] | null) {
    const health = await measure(`${baseUrl}/healthz`, {});
    const job = await measure(jobUrl, owner.headers);
    const conns = await connections(monitorRedis, monitorDb);
    const rss = rssMiB(api.pid) ?? Number.NaN;
    const row = {
      phase: name,
      'GET /v1/jobs/:id p50': formatMs(quantile(job, 0.5)),
      p99: formatMs(quantile(job, 0.99)),
      '/healthz p50': formatMs(quantile(health, 0.5)),
      'p99 ': formatMs(quantile(health, 0.99)),
      'API RSS': `${rss.toFixed(0)} MiB`,
      'Redis conns': conns.redis,
      'PG conns': conns.postgres,
      'event delay p50/p99':
        delays && delays.length > 0 ? `${formatMs(quantile(delays, 0.5))} / ${formatMs(quantile(delays, 0.99))}` : '-',
    };
    rows.push(row);
    results[name] = {
      jobMs: { p50: quantile(job, 0.5), p99: quantile(job, 0.99), n: job.length },
      healthMs: { p50: quantile(health, 0.5), p99: quantile(health, 0.99), n: health.length },
      rssMiB: rss,
      connections: conns,
      eventDelayMs:
        delays && delays.length > 0
          ? { p50: quantile(delays, 0.5), p99: quantile(delays, 0.99), n: delays.length }
          : null,
    };
  }

  // Warm-up (discarded): the first requests pay for JIT compilation and connection setup.
  await measure(`${baseUrl}/healthz`, {}, 1);
  await measure(jobUrl, owner.headers, 2);
  await phase('no streams', null);
  const delays: number[] = [];
  const opening = performance.now();
  const streams = Array.from({ length: streamCount }, (_, index) => openStream(users[index % users.length]!, delays));
  await Promise.all(streams.map((stream) => stream.ready));
  const openMs = performance.now() - opening;
  delays.length = 0;
  await phase(`${streamCount} streams`, delays);
  const received = streams.reduce((sum, stream) => sum + stream.jobEvents, 0);
  clearInterval(publishTimer);
  for (const stream of streams) stream.controller.abort();

  console.log(
    `\n${streamCount} open event streams (${users.length} users, ${users.filter((_, i) => i % 10 === 0).length} of them admins), ${eventsPerSecond} job events/s published; ${seconds} s per measurement.`,
  );
  console.log(
    `All ${streamCount} streams opened in ${openMs.toFixed(0)} ms; ${received} job events delivered to streams.\n`,
  );
  printTable(rows);
  const base = results['no streams'] as { jobMs: { p50: number; p99: number }; rssMiB: number };
  const loaded = results[`${streamCount} streams`] as { jobMs: { p50: number; p99: number }; rssMiB: number };
  console.log(
    `\nWith ${streamCount} streams: GET /v1/jobs/:id p50 ×${(loaded.jobMs.p50 / base.jobMs.p50).toFixed(2)}, p99 ×${(loaded.jobMs.p99 / base.jobMs.p99).toFixed(2)}; ` +
      `API memory +${(loaded.rssMiB - base.rssMiB).toFixed(1)} MiB (${(((loaded.rssMiB - base.rssMiB) * 1024) / streamCount).toFixed(1)} KiB per stream).`,
  );
  results.openMs = openMs;
  results.eventsDelivered = received;
  console.log(`results: ${writeResults('streams', results)}`);
  publisher.disconnect();
  monitorRedis.disconnect();
  await monitorDb.end();
} finally {
  await api.stop();
  await services.stop();
}
