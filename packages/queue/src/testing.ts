import { randomUUID } from 'node:crypto';
import { InferenceQueue, type InferenceQueueOptions } from './inferenceQueue.ts';
import { createRedisConnection } from './redis.ts';

/**
 * For tests (`import { openTestQueue } from '@inferq/queue/testing'`): an InferenceQueue of its own
 * on the test Redis, under a fresh name, ready to use. Give it back with {@link closeTestQueue}.
 */
export async function openTestQueue(
  redis: { url: string; prefix: string },
  options: Omit<InferenceQueueOptions, 'connection' | 'name' | 'prefix'> = {},
): Promise<InferenceQueue> {
  const connection = createRedisConnection({ url: redis.url, role: 'producer' });
  const queue = new InferenceQueue({ ...options, connection, name: `test-${randomUUID()}`, prefix: redis.prefix });
  await queue.waitUntilReady();
  return queue;
}

/** Removes everything an {@link openTestQueue} queue wrote, and closes it and its connection. */
export async function closeTestQueue(queue: InferenceQueue): Promise<void> {
  await queue.obliterate();
  await queue.close();
  queue.connection.disconnect();
}
