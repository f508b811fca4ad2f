// The consumer half of the BullMQ anchor: a Worker with a no-op processor in a process of its own
// (as the platform's worker is), reporting over IPC once it has processed `count` jobs.
import { parseArgs } from 'node:util';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const { values } = parseArgs({
  options: {
    redis: { type: 'string' },
    prefix: { type: 'string' },
    queue: { type: 'string' },
    concurrency: { type: 'string', default: '100' },
  },
});
const connection = new Redis(values.redis!, { maxRetriesPerRequest: null });
let processed = 0;
let target = Number.POSITIVE_INFINITY;
let firstAt = 0;
const worker = new Worker(
  values.queue!,
  async () => {
    if (processed === 0) firstAt = performance.now();
    processed++;
    if (processed >= target) process.send!({ kind: 'done', processed, ms: performance.now() - firstAt });
  },
  { connection, prefix: values.prefix!, concurrency: Number(values.concurrency), removeOnComplete: { count: 1000 } },
);
worker.on('error', () => {});
process.on('message', async (message: { cmd: 'expect'; count: number } | { cmd: 'exit' }) => {
  if (message.cmd === 'expect') {
    processed = 0;
    target = message.count;
    process.send!({ kind: 'ready' });
  } else {
    await worker.close();
    connection.disconnect();
    process.exit(0);
  }
});
await worker.waitUntilReady();
process.send!({ kind: 'started' });
