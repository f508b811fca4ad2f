// 5. Submit latency under overload: an open loop at a fixed rate (200 submissions/s by default)
// while the workers are saturated and the queue is deep (prefilled through the API first).
// Latency counts from each submission's scheduled start, so a stalled API cannot hide its delay.
//   pnpm bench overload [--rate 200] [--seconds 15] [--prefill 2000] [--workers 2] [--image 640x480]
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { modelQueueName } from '@inferq/core';
import { Redis } from 'ioredis';
import { repoRoot } from '@inferq/testing';
import { benchImage } from './lib/benchImage.ts';
import { closedLoop, HttpClient, openLoop, TimeoutError } from './lib/loadClient.ts';
import { envFlag, startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { CpuMeter, machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, summarize, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '15' },
    prefill: { type: 'string', default: '2000' },
    workers: { type: 'string', default: '2' },
    users: { type: 'string', default: '32' },
    image: { type: 'string', default: '640x480' },
    model: { type: 'string', default: 'nsfw' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
    'shared-redis': { type: 'boolean', default: false },
    /** Extra environment for the workers / the API, `KEY=VALUE,…` (e.g. WORKER_NICE=0). */
    'worker-env': { type: 'string' },
    'api-env': { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
const rate = Number(values.rate);
const workers = Number(values.workers);
const image = await benchImage(values.image);
const services = await startBenchServices({ sharedRedis: values['shared-redis'] });
const before = machineLoad();
console.log(
  `submit latency under overload: ${rate}/s for ${values.seconds} s, ${values.image} JPEG (${image.bytes.length} bytes), ${workers} ${values.model} worker(s), queue prefilled with ${values.prefill}; ${before.uptime}`,
);

const queueName = `bench-${randomUUID()}`;
const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 1 });
const queue = new Queue(modelQueueName(values.model, queueName), { connection: redis, prefix: services.queuePrefix });
const depth = async () => {
  const counts = await queue.getJobCounts('waiting', 'prioritized', 'active');
  return counts.waiting! + counts.prioritized! + counts.active!;
};
let result;
try {
  const platform = await startPlatform({
    services,
    modelsDir: values['models-dir'],
    defaultModel: values.model,
    workers,
    queueName,
    cpuProfileDir: values['cpu-prof'],
    worker: envFlag(values['worker-env']),
    api: envFlag(values['api-env']),
  });
  try {
    const users = await benchUsers(services, Number(values.users));
    const http = new HttpClient(platform.api.url, { connections: 512 });
    const headersOf = (i: number) => users[i % users.length]!.headers;
    await closedLoop({
      clients: 16,
      jobs: Number(values.prefill),
      task: async (_client, i) => {
        // A busy API (503 SERVER_BUSY) is asked again shortly, as a client would.
        for (let attempt = 0; ; attempt++) {
          const answer = await http.request('POST', '/v1/jobs', { body: image.upload, headers: headersOf(i) });
          if (answer.status === 202) return;
          if (answer.status !== 503 || attempt >= 50) throw new Error(`prefill submit answered ${answer.status}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      },
    });
    const depthBefore = await depth();
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let timeouts = 0;
    const meter = new CpuMeter();
    meter.start([platform.api.pid]);
    const sent = await openLoop({
      rate,
      durationMs: Number(values.seconds) * 1000,
      fire: async (i, scheduledAt) => {
        try {
          const answer = await http.request('POST', '/v1/jobs', {
            body: image.upload,
            headers: headersOf(i),
            timeoutMs: 10_000,
          });
          statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
          if (answer.status === 202) latencies.push(performance.now() - scheduledAt);
        } catch (error) {
          if (error instanceof TimeoutError) timeouts++;
          else throw error;
        }
      },
    });
    const apiCores = meter.since([platform.api.pid]) / sent.wallMs;
    const depthAfter = await depth();
    await http.close();
    result = {
      sent: sent.sent,
      wallMs: sent.wallMs,
      maxSendLagMs: sent.maxLagMs,
      statuses,
      timeouts,
      submitMs: summarize(latencies),
      depthBefore,
      depthAfter,
      apiCores,
    };
  } finally {
    await platform.stop();
  }
} finally {
  await queue.close();
  redis.disconnect();
  await services.stop();
}
const after = machineLoad();

console.log();
printTable([
  {
    offered: `${rate}/s`,
    sent: result.sent,
    accepted: result.statuses[202] ?? 0,
    'submit p50': formatMs(result.submitMs.p50),
    'submit p95': formatMs(result.submitMs.p95),
    'submit p99': formatMs(result.submitMs.p99),
    max: formatMs(result.submitMs.max),
    timeouts: result.timeouts,
    'queue depth before → after': `${result.depthBefore} → ${result.depthAfter}`,
    'API cores busy': result.apiCores.toFixed(2),
  },
]);
const other = Object.entries(result.statuses).filter(([status]) => status !== '202');
if (other.length > 0) console.log(`other answers: ${JSON.stringify(Object.fromEntries(other))}`);
console.log(
  `load average: ${before.load1} before, ${after.load1} after; the load generator's largest send delay was ${formatMs(result.maxSendLagMs)}`,
);
const file = writeResults('overload', {
  rate,
  seconds: Number(values.seconds),
  image: values.image,
  workers,
  prefill: Number(values.prefill),
  privateRedis: services.privateRedis,
  result,
  load: { before, after },
});
console.log(`wrote ${file}`);
