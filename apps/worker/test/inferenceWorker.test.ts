import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { modelQueueName } from '@inferq/core';
import { createDatabase, JobExecution, type Database } from '@inferq/db';
import { validPng } from '@inferq/images/testing';
import type { ModelLease, ModelPool } from '@inferq/inference';
import { modelManifestSchema } from '@inferq/models';
import { JobPipeline } from '@inferq/pipeline';
import { createRedisConnection } from '@inferq/queue';
import { createTestUser, startTestServices, TestJobs, type TestServices } from '@inferq/testing';
import { InferenceWorker } from '../src/inferenceWorker.ts';

/**
 * The queue wiring: BullMQ's jobs in, the job path's answers out. The job path itself is tested in
 * `packages/pipeline`; here, that a job the path fails for good is not retried by BullMQ and
 * keeps its code as the failed reason (what the reconciler reads), and that one it runs completes.
 */
let services: TestServices;
let db: Database;
let jobs: TestJobs;
let userId: string;
const connections: Array<ReturnType<typeof createRedisConnection>> = [];

const manifest = modelManifestSchema.parse({
  name: 'digits',
  version: '1',
  format: 'layers',
  input: { width: 2, height: 2, channels: 1, resize: 'fill', scale: { mode: 'divide', divisor: 255 } },
  output: { kind: 'classification', labels: ['a', 'b'], activation: 'softmax' },
  sha256: 'a'.repeat(64),
  createdAt: new Date().toISOString(),
});

beforeAll(async () => {
  services = await startTestServices({ DATABASE_URL: inject('databaseUrl'), REDIS_URL: inject('redisUrl') });
  db = createDatabase({ url: services.databaseUrl, poolSize: 4 });
  jobs = new TestJobs(db);
  userId = (await createTestUser(services.databaseUrl)).userId;
});
afterAll(async () => {
  await db?.$disconnect();
  for (const connection of connections) connection.disconnect();
  await services?.stop();
});

function redis(role: 'producer' | 'consumer') {
  const connection = createRedisConnection({ url: services.redisUrl, role });
  connection.on('error', () => {});
  connections.push(connection);
  return connection;
}

async function started() {
  const queueName = `test-${randomUUID()}`;
  const lease: ModelLease = {
    manifest,
    submit: async (_input, onStart) => {
      onStart?.({ size: 1, tags: [] });
      return { vector: [0.25, 0.75], inferenceMs: 1, batchSize: 1, batchWaitMs: 0, engine: 'stand-in' };
    },
    release() {},
  };
  const logger = pino({ level: 'silent' });
  const pipeline = new JobPipeline({
    execution: new JobExecution(db),
    models: { acquire: async () => lease },
    logger,
    workerId: 'w1',
  });
  const models = {
    subscribe: () => () => {},
    describe: () => [{ name: 'digits' }],
    serves: () => true,
  } as unknown as Pick<ModelPool, 'subscribe' | 'describe' | 'serves'>;
  const worker = new InferenceWorker({
    connection: redis('consumer'),
    pipeline,
    models,
    logger,
    queueName,
    prefix: services.queuePrefix,
    concurrency: 2,
  });
  worker.start();
  const queue = new Queue(modelQueueName('digits', queueName), {
    connection: redis('producer'),
    prefix: services.queuePrefix,
  });
  return {
    worker,
    queue,
    async close() {
      await worker.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    },
  };
}

async function jobRow(input: Buffer): Promise<string> {
  const id = randomUUID();
  await jobs.create({
    id,
    userId,
    modelName: 'digits',
    input: { data: input, format: 'png', width: 8, height: 8, sha256: 'a'.repeat(64) },
  });
  return id;
}

/** The BullMQ entry once it has ended. */
async function ended(queue: Queue, id: string) {
  for (let i = 0; i < 400; i++) {
    const state = await queue.getJobState(id);
    // Read once it has ended: a job read before holds the fields of that moment.
    const job = state === 'completed' || state === 'failed' ? await queue.getJob(id) : undefined;
    if (job)
      return {
        state,
        attemptsMade: job.attemptsMade,
        failedReason: job.failedReason,
        returnvalue: job.returnvalue as unknown,
      };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`job ${id} did not end`);
}

describe('InferenceWorker', () => {
  it('runs a job taken from its model queue through the job path', async () => {
    const { worker, queue, close } = await started();
    try {
      expect(worker.consumes('digits')).toBe(true);
      const id = await jobRow(await validPng(8, 8));
      await queue.add('infer', { jobId: id, model: 'digits' }, { jobId: id, attempts: 5 });
      expect(await ended(queue, id)).toMatchObject({
        state: 'completed',
        returnvalue: { status: 'succeeded', modelVersion: '1' },
      });
      expect((await jobs.get(id))?.status).toBe('succeeded');
      expect(worker.stats.succeeded).toBe(1);
    } finally {
      await close();
    }
  });

  it.each([
    ['an input that does not decode', { model: 'digits' }, 'PREPROCESSING_FAILED', 'PREPROCESSING_FAILED'],
    ['a payload that does not parse', { model: 7 }, /^invalid payload/, 'INVALID_JOB_ID'],
  ])('fails %s once, with no retry: its code is the failed reason', async (_name, data, reason, code) => {
    const { queue, close } = await started();
    try {
      const id = await jobRow(Buffer.from('not an image'));
      await queue.add(
        'infer',
        { jobId: id, ...data },
        { jobId: id, attempts: 5, backoff: { type: 'fixed', delay: 10 } },
      );
      const entry = await ended(queue, id);
      expect(entry).toMatchObject({ state: 'failed', attemptsMade: 1 });
      expect(entry.failedReason).toMatch(reason);
      expect(await jobs.get(id)).toMatchObject({ status: 'failed', errorCode: code });
    } finally {
      await close();
    }
  });
});
