// The anchor for the overhead run: raw BullMQ on the same Redis, a producer here and a no-op
// Worker in a child process, with the platform's job options (custom id, attempts, retention).
import { randomUUID } from 'node:crypto';
import { fork } from 'node:child_process';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { inferenceJobOptions } from '@inferq/core';

export interface AnchorResult {
  mode: 'single' | 'bulk';
  jobs: number;
  /** Jobs added per second (until the last add resolved). */
  addsPerSecond: number;
  /** Jobs added and processed per second (until the consumer saw the last one). */
  jobsPerSecond: number;
}

type ConsumerReply = { kind: 'started' } | { kind: 'ready' } | { kind: 'done'; processed: number; ms: number };

/**
 * Adds `jobs` jobs one `add` at a time (`inFlight` adds outstanding, as concurrent API requests
 * would), then again with `addBulk` in chunks of `bulkSize`, each through a no-op consumer.
 */
export async function measureBullmq(options: {
  redisUrl: string;
  prefix: string;
  jobs: number;
  inFlight?: number;
  bulkSize?: number;
  concurrency?: number;
}): Promise<AnchorResult[]> {
  const queueName = `anchor-${randomUUID()}`;
  const child = fork(
    path.join(import.meta.dirname, 'bullmqConsumer.ts'),
    [
      '--redis',
      options.redisUrl,
      '--prefix',
      options.prefix,
      '--queue',
      queueName,
      '--concurrency',
      String(options.concurrency ?? 100),
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const replies: ConsumerReply[] = [];
  let wake: (() => void) | null = null;
  child.on('message', (reply: ConsumerReply) => {
    replies.push(reply);
    wake?.();
  });
  const next = async (kind: ConsumerReply['kind']): Promise<ConsumerReply> => {
    for (;;) {
      const index = replies.findIndex((reply) => reply.kind === kind);
      if (index >= 0) return replies.splice(index, 1)[0]!;
      if (child.exitCode !== null) throw new Error('BullMQ consumer exited');
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1000);
      });
    }
  };
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue(queueName, { connection, prefix: options.prefix });
  const results: AnchorResult[] = [];
  try {
    await next('started');
    for (const mode of ['single', 'bulk'] as const) {
      child.send({ cmd: 'expect', count: options.jobs });
      await next('ready');
      const started = performance.now();
      if (mode === 'single') {
        let nextIndex = 0;
        await Promise.all(
          Array.from({ length: options.inFlight ?? 50 }, async () => {
            while (nextIndex < options.jobs) {
              const jobId = randomUUID();
              nextIndex++;
              await queue.add('infer', { jobId, model: 'tiny' }, inferenceJobOptions(jobId));
            }
          }),
        );
      } else {
        const size = options.bulkSize ?? 100;
        for (let i = 0; i < options.jobs; i += size) {
          const chunk = Array.from({ length: Math.min(size, options.jobs - i) }, () => {
            const jobId = randomUUID();
            return { name: 'infer', data: { jobId, model: 'tiny' }, opts: inferenceJobOptions(jobId) };
          });
          await queue.addBulk(chunk);
        }
      }
      const addedMs = performance.now() - started;
      await next('done');
      const doneMs = performance.now() - started;
      results.push({
        mode,
        jobs: options.jobs,
        addsPerSecond: (options.jobs * 1000) / addedMs,
        jobsPerSecond: (options.jobs * 1000) / doneMs,
      });
    }
    await queue.obliterate({ force: true });
  } finally {
    child.send({ cmd: 'exit' });
    await queue.close();
    connection.disconnect();
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  }
  return results;
}
