// What a queued job's place costs the API: the position read a job view (and a submit's 202)
// makes, one pipelined round trip of ZRANK + LLEN + LPOS, next to the reads every submit made
// already (the global cap's queue length over every model's queue), in the same run, against a
// deep queue (`--depth` prioritized jobs). Also the event log: XADD beside the PUBLISH every
// status change makes, per event.
//   pnpm bench queueposition [--depth 10000] [--reads 2000]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { inferenceJobOptions } from '@inferq/core';
import {
  createRedisConnection,
  defaultEventMaxLength,
  InferenceQueue,
  jobEventsChannel,
  jobEventsStreamKey,
} from '@inferq/queue';
import { machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { median, printTable, quantile, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: { depth: { type: 'string', default: '10000' }, reads: { type: 'string', default: '2000' } },
});
const depth = Number(values.depth);
const reads = Number(values.reads);
const services = await startBenchServices({});
console.log(`queue position reads: ${depth} queued jobs, ${reads} reads a kind; ${machineLoad().uptime}`);
const rows: Array<Record<string, string>> = [];
const connection = createRedisConnection({ url: services.redisUrl, role: 'producer' });
const queue = new InferenceQueue({
  connection,
  name: `bench-${randomUUID()}`,
  prefix: services.queuePrefix,
  models: () => ['bench'],
});

/** Latency of `read`, one at a time, in ms: median and p99. */
async function time(kind: string, read: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await read();
  const samples: number[] = [];
  for (let i = 0; i < reads; i++) {
    const started = performance.now();
    await read();
    samples.push(performance.now() - started);
  }
  const p50 = median(samples);
  rows.push({ read: kind, 'p50 ms': p50.toFixed(3), 'p99 ms': quantile(samples, 0.99).toFixed(3) });
  return p50;
}

try {
  await queue.waitUntilReady();
  const bull = queue.queueFor('bench');
  const ids: string[] = [];
  for (let start = 0; start < depth; start += 1000) {
    const chunk = Array.from({ length: Math.min(1000, depth - start) }, (_, i) => {
      const jobId = randomUUID();
      ids.push(jobId);
      return {
        name: 'infer',
        data: { jobId, model: 'bench' },
        opts: inferenceJobOptions(jobId, queue.policy, 1 + ((start + i) % 50)),
      };
    });
    await bull.addBulk(chunk);
  }
  const middle = ids[Math.floor(ids.length / 2)]!;
  const page = ids.slice(0, 20).map((jobId) => ({ jobId, model: 'bench' }));
  const cap = await time('queue length, all models (every submit already)', () => queue.inFlightCount());
  const one = await time('position of one job (a job view, a 202)', () =>
    queue.positions([{ jobId: middle, model: 'bench' }]),
  );
  const twenty = await time('positions of a page of 20 jobs (GET /v1/jobs)', () => queue.positions(page));

  // The publisher's own pipeline, with and without the log's XADD (MAXLEN ~ as JobEventPublisher writes it).
  const events = new Redis(services.redisUrl);
  const prefix = `${services.queuePrefix}:bench-events-${randomUUID()}`;
  const event = JSON.stringify({
    jobId: randomUUID(),
    userId: null,
    status: 'running',
    model: 'bench',
    at: new Date().toISOString(),
  });
  const publishOnly = await time('PUBLISH of one event (before the log)', () =>
    events.pipeline().publish(jobEventsChannel(prefix), event).exec(),
  );
  const logged = await time('PUBLISH + XADD of one event (with the log)', () =>
    events
      .pipeline()
      .publish(jobEventsChannel(prefix), event)
      .xadd(jobEventsStreamKey(prefix), 'MAXLEN', '~', String(defaultEventMaxLength), '*', 'e', event)
      .exec(),
  );
  const kept = await events.xlen(jobEventsStreamKey(prefix));
  const bytes = Number(await events.memory('USAGE', jobEventsStreamKey(prefix)));
  console.log(
    `event log: ${kept} events in ${(bytes / 1024 / 1024).toFixed(1)} MiB of Redis memory, ${(bytes / kept).toFixed(0)} bytes an event`,
  );
  await events.del(jobEventsStreamKey(prefix));
  events.disconnect();
  console.log(
    `ratios (same run): one position / queue length = ${(one / cap).toFixed(2)}; a page's positions / queue length = ${(twenty / cap).toFixed(2)}; event with log / publish alone = ${(logged / publishOnly).toFixed(2)}`,
  );
  await queue.obliterate();
} finally {
  await queue.close();
  connection.disconnect();
  await services.stop();
}
printTable(rows);
console.log(`wrote ${writeResults('queue-position', { depth, reads, rows })}`);
