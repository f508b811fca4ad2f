import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AppError } from '@inferq/core';
import { createDatabase, JobExecution, type Database } from '@inferq/db';
import { pixelSpecKey } from '@inferq/images';
import { validPng } from '@inferq/images/testing';
import type { Inference, ModelLease } from '@inferq/inference';
import { createWorkerMetrics } from '@inferq/metrics';
import { modelManifestSchema } from '@inferq/models';
import { createRedisConnection, JobEventPublisher, jobEventsStreamKey, PixelStore } from '@inferq/queue';
import { FileBlobStore, resultSinkKey } from '@inferq/storage';
import { createTestUser, startTestServices, TestJobs, type TestServices } from '@inferq/testing';
import { FinalAttemptError, type QueuedAttempt } from '../src/attempt.ts';
import { JobPipeline, type JobPipelineOptions } from '../src/jobPipeline.ts';

/**
 * The job path end to end against Postgres and Redis. The model is a stand-in lease (what a
 * ModelPool hands out): the path is under test here, not an inference engine.
 */
let services: TestServices;
let db: Database;
let redis: ReturnType<typeof createRedisConnection>;
let jobs: TestJobs;
let userId: string;
let blobDir: string;

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
  redis = createRedisConnection({ url: services.redisUrl, role: 'producer' });
  redis.on('error', () => {});
  jobs = new TestJobs(db);
  userId = (await createTestUser(services.databaseUrl)).userId;
  blobDir = await mkdtemp(path.join(tmpdir(), 'inferq-pipeline-'));
});
afterAll(async () => {
  await db?.$disconnect();
  redis?.disconnect();
  await services?.stop();
  if (blobDir) await rm(blobDir, { recursive: true, force: true });
});

/** What the stand-in model does with each input. */
type Model = (input: Float32Array) => Promise<number[]>;

function setup(model: Model = async () => [0.25, 0.75], extra: Partial<JobPipelineOptions> = {}) {
  const prefix = `test-${randomUUID()}`;
  const metrics = createWorkerMetrics({ defaultMetrics: false });
  const lease: ModelLease = {
    manifest,
    async submit(input, onStart) {
      onStart?.({ size: 1, tags: [] });
      const vector = await model(input as Float32Array);
      return { vector, inferenceMs: 1, batchSize: 1, batchWaitMs: 0, engine: 'stand-in' } satisfies Inference;
    },
    release() {},
  };
  const pixels = new PixelStore({ connection: redis, prefix });
  const pipeline = new JobPipeline({
    execution: new JobExecution(db),
    models: {
      acquire: async (name) => {
        if (name !== 'digits') throw new AppError('MODEL_NOT_FOUND', 'no such model');
        return lease;
      },
    },
    logger: pino({ level: 'silent' }),
    workerId: 'w1',
    events: new JobEventPublisher({ connection: redis, prefix }),
    pixels,
    metrics,
    blobs: new FileBlobStore(blobDir),
    ...extra,
  });
  pipeline.track('digits', 4);
  return {
    pipeline,
    pixels,
    metrics,
    async announced(): Promise<string[]> {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const entries = await redis.xrange(jobEventsStreamKey(prefix), '-', '+');
      return entries.map(([, fields]) => (JSON.parse(fields[1] as string) as { status: string }).status);
    },
  };
}

async function queuedJob(fields: { resultPrefix?: string; input?: Buffer } = {}): Promise<string> {
  const id = randomUUID();
  await jobs.create({
    id,
    userId,
    modelName: 'digits',
    input: { data: fields.input ?? (await validPng(8, 8)), format: 'png', width: 8, height: 8, sha256: 'a'.repeat(64) },
  });
  if (fields.resultPrefix) await db.job.update({ where: { id }, data: { resultPrefix: fields.resultPrefix } });
  return id;
}

const attemptOf = (id: string, fields: Partial<QueuedAttempt> = {}): QueuedAttempt => ({
  id,
  data: { jobId: id, model: 'digits' },
  attemptsMade: 0,
  attemptsAllowed: 5,
  ...fields,
});

async function thrown(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the attempt to throw');
}

async function sourceCount(metrics: ReturnType<typeof createWorkerMetrics>, source: string): Promise<number> {
  const values = (await metrics.preprocessed.get()).values;
  return values.find((value) => value.labels.source === source)?.value ?? 0;
}

describe('JobPipeline', () => {
  it('runs a job through its steps: claimed, decoded, run, written, announced', async () => {
    const { pipeline, announced, metrics } = setup();
    const id = await queuedJob();
    expect(await pipeline.process(attemptOf(id), 'digits')).toEqual({
      status: 'succeeded',
      modelVersion: '1',
      engine: 'stand-in',
    });
    const row = await jobs.get(id);
    expect(row).toMatchObject({ status: 'succeeded', attempts: 1, workerId: 'w1' });
    expect(row?.result?.output).toEqual([[0.25, 0.75]]);
    expect(await announced()).toEqual(['running', 'succeeded']);
    expect(await sourceCount(metrics, 'decoded')).toBe(1);
    expect(pipeline.stats).toMatchObject({ succeeded: 1, failed: 0, skipped: 0 });
    expect(pipeline.idle('digits')).toBe(true);
  });

  it('takes the pixels handed over through Redis and does not decode the upload', async () => {
    const { pipeline, pixels, metrics } = setup();
    const id = await queuedJob({ input: Buffer.from('not an image: decoding it would fail') });
    await pixels.putMany([
      { jobId: id, pixels: { data: Buffer.from([0, 255, 0, 255]), spec: pixelSpecKey(manifest.input!) } },
    ]);
    const marked = attemptOf(id, { data: { jobId: id, model: 'digits', pixels: true } });
    expect((await pipeline.process(marked, 'digits')).status).toBe('succeeded');
    expect(await sourceCount(metrics, 'prepared')).toBe(1);
  });

  it('does not look for handed-over pixels of a job whose payload names none', async () => {
    const { pipeline, pixels, metrics } = setup();
    const id = await queuedJob();
    const handed = { data: Buffer.from([0, 255, 0, 255]), spec: pixelSpecKey(manifest.input!) };
    await pixels.putMany([{ jobId: id, pixels: handed }]);
    expect((await pipeline.process(attemptOf(id), 'digits')).status).toBe('succeeded');
    expect(await sourceCount(metrics, 'decoded')).toBe(1);
    // Left where they were (they lapse with PIXEL_HANDOFF_TTL_MS).
    expect(await pixels.takeMany([id])).toEqual([handed]);
  });

  it('writes the result sink copy before succeeded is announced', async () => {
    const { pipeline, announced } = setup();
    const id = await queuedJob({ resultPrefix: 'sink/run' });
    await pipeline.process(attemptOf(id), 'digits');
    expect(await announced()).toEqual(['running', 'succeeded']);
    const copy = JSON.parse(await readFile(path.join(blobDir, resultSinkKey(id, 'sink/run')), 'utf8')) as {
      id: string;
      status: string;
    };
    expect(copy).toMatchObject({ id, status: 'succeeded' });
  });

  it.each([
    ['a model that rejects the input', () => Promise.reject(new Error('bad tensor')), {}, 'INFERENCE_FAILED'],
    ['an upload that does not decode', undefined, { input: Buffer.from('garbage') }, 'PREPROCESSING_FAILED'],
  ] as const)('%s fails the row for good and asks the queue not to retry', async (_name, model, fields, code) => {
    const { pipeline, announced } = setup(model);
    const id = await queuedJob(fields);
    const error = await thrown(pipeline.process(attemptOf(id), 'digits'));
    expect(error).toBeInstanceOf(FinalAttemptError);
    expect(error.message).toBe(code);
    expect(await jobs.get(id)).toMatchObject({ status: 'failed', errorCode: code });
    expect(await announced()).toEqual(['running', 'failed']);
  });

  it('a model the registry does not have fails with UNKNOWN_MODEL', async () => {
    const { pipeline } = setup();
    const id = await queuedJob();
    const error = await thrown(pipeline.process({ ...attemptOf(id), data: { jobId: id, model: 'gone' } }, 'digits'));
    expect(error).toBeInstanceOf(FinalAttemptError);
    expect((await jobs.get(id))?.errorCode).toBe('UNKNOWN_MODEL');
  });

  it('another error is retried while attempts remain, and fails the row on the last attempt', async () => {
    // Lost while taking the model: neither the job's fault nor Postgres being down.
    const {
      pipeline: broken,
      announced,
      metrics,
    } = setup(undefined, { models: { acquire: () => Promise.reject(new Error('connection lost')) } });
    const id = await queuedJob();
    const retried = await thrown(broken.process(attemptOf(id, { attemptsMade: 0, attemptsAllowed: 2 }), 'digits'));
    expect(retried).not.toBeInstanceOf(FinalAttemptError);
    expect(retried.message).toBe('INTERNAL');
    expect(await jobs.get(id)).toMatchObject({ status: 'queued', errorCode: 'INTERNAL' });
    const last = await thrown(broken.process(attemptOf(id, { attemptsMade: 1, attemptsAllowed: 2 }), 'digits'));
    expect(last.message).toBe('INTERNAL');
    expect(await jobs.get(id)).toMatchObject({
      status: 'failed',
      errorCode: 'INTERNAL',
      errorMessage: 'The job failed after all its attempts.',
    });
    expect((await metrics.jobRetries.get()).values.map((value) => value.value)).toEqual([1]);
    // The retry is not announced; the next attempt's start is, and the final failure.
    expect(await announced()).toEqual(['running', 'running', 'failed']);
  });

  it('an unreadable payload fails its row and is not retried', async () => {
    const { pipeline } = setup();
    const id = await queuedJob();
    const error = await thrown(pipeline.process({ ...attemptOf(id), data: { jobId: id } }, 'digits'));
    expect(error).toBeInstanceOf(FinalAttemptError);
    expect(error.message).toMatch(/^invalid payload: model/);
    expect(await jobs.get(id)).toMatchObject({ status: 'failed', errorCode: 'INVALID_JOB_ID' });
  });

  it('skips a job canceled before its attempt, and drops the result of one canceled while it ran', async () => {
    const during: { cancel?: () => Promise<unknown> } = {};
    const { pipeline, announced } = setup(async () => {
      await during.cancel?.();
      return [0.5, 0.5];
    });
    const early = await queuedJob();
    await jobs.cancel(early);
    expect(await pipeline.process(attemptOf(early), 'digits')).toEqual({ status: 'skipped' });
    const late = await queuedJob();
    during.cancel = () => jobs.cancel(late);
    expect((await pipeline.process(attemptOf(late), 'digits')).status).toBe('skipped');
    expect((await jobs.get(late))?.status).toBe('canceled');
    expect(await announced()).toEqual(['running']);
    expect(pipeline.stats.skipped).toBe(2);
  });

  it('counts attempts held and running per model, and tells when one ended', async () => {
    let release: (() => void) | undefined;
    const { pipeline } = setup(() => new Promise((resolve) => (release = () => resolve([1, 0]))));
    const ended: string[] = [];
    pipeline.onAttemptEnded((model) => ended.push(model));
    const id = await queuedJob();
    const running = pipeline.process(attemptOf(id), 'digits');
    while (!release) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(pipeline.idle('digits')).toBe(false);
    expect(pipeline.modelJobs()).toEqual([
      expect.objectContaining({ model: 'digits', held: 0, running: 1, concurrency: 4 }),
    ]);
    release();
    await running;
    expect(pipeline.idle('digits')).toBe(true);
    expect(ended).toEqual(['digits']);
  });
});
