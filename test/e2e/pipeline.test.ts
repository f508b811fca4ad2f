import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { drawingImage, photoLikeImage } from '@inferq/images/testing';
import { TestJobs, type PlatformProcess } from '@inferq/testing';
import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase } from '@inferq/db';
import { createRedisConnection, InferenceQueue, PixelStore } from '@inferq/queue';
import { validateImage } from '@inferq/images';
import { ModelRegistry } from '@inferq/models';
import {
  createTestUser,
  platformEnv,
  type Caller,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  waitForFinal,
} from './platform.ts';

describe('upload → queue → worker → result → poll, with real processes', () => {
  // Polling 24 jobs every 50 ms is well over the free tier's request rate: lift it here.
  const env = platformEnv({
    extra: {
      LOCK_DURATION_MS: '4000',
      STALLED_INTERVAL_MS: '2000',
      TIER_OVERRIDES: JSON.stringify({ free: { requestsPerWindow: 1_000_000 } }),
    },
  });
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let caller: Caller;
  let healthUrl = '';

  beforeAll(async () => {
    // Every pixel handed over, nsfw's exact floats too (by default they are left to the worker's decode).
    const started = await Promise.all([
      startApiProcess({ ...env, extra: { ...env.extra, PIXEL_HANDOFF: 'always' } }),
      startWorkerProcess({ ...env, workerId: 'e2e-1' }),
    ]);
    api = started[0].process;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl) };
    worker = started[1].process;
    healthUrl = started[1].healthUrl;
  });
  afterAll(async () => {
    await stopAll([api, worker]);
  });

  it('classifies a drawn JPEG and a PNG: five scores summing to 1, Drawing on top for the drawing', async () => {
    const drawingJpeg = await sharp(await drawingImage(640, 480))
      .jpeg({ quality: 92 })
      .toBuffer();
    const png = await photoLikeImage(320, 240, 'png');
    const [first, second] = await Promise.all([submit(caller, drawingJpeg), submit(caller, png)]);
    for (const submitted of [first, second]) expect(submitted.status).toBe('queued');

    const drawing = await waitForFinal(caller, first.id);
    expect(drawing.status).toBe('succeeded');
    expect(drawing.model.version).toBeTruthy();
    // The shipped nsfw version carries model.onnx: the worker serves it on ONNX Runtime.
    expect(drawing.model.engine).toBe('onnxruntime-cpu');
    const scores = drawing.result!.output[0]!;
    expect(scores).toHaveLength(5);
    expect(scores.reduce((sum, value) => sum + value, 0)).toBeCloseTo(1, 3);
    expect(drawing.result!.top![0]!.label).toBe('Drawing');
    expect(drawing.attempts).toBe(1);
    expect(drawing.timings.inferenceMs).toBeGreaterThan(0);
    expect(drawing.timings.queueWaitMs).toBeGreaterThanOrEqual(0);

    const photo = await waitForFinal(caller, second.id);
    expect(photo.status).toBe('succeeded');
    expect(photo.result!.output[0]!).toHaveLength(5);
    expect(photo.result!.top!.map((entry) => entry.label).sort()).toEqual([
      'Drawing',
      'Hentai',
      'Neutral',
      'Porn',
      'Sexy',
    ]);
  });

  it('reports the worker ready with its backend and model', async () => {
    const response = await fetch(`${healthUrl}/readyz`);
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.checks).toEqual({ postgres: true, redis: true, model: true });
    expect(body.backend).toBe('wasm');
    expect(body.models.map((model: { name: string }) => model.name)).toContain('nsfw');
    expect(body.models.find((model: { name: string }) => model.name === 'nsfw').engine).toBe('onnxruntime-cpu');
    expect(body.onnxRuntime).toMatchObject({ provider: 'cpu', preference: 'auto' });
    expect(body.onnxRuntime.skipped.map((skipped: { name: string }) => skipped.name)).toEqual([
      'tensorrt',
      'cuda',
      'webgpu',
    ]);
  });

  it('serves Prometheus metrics on the worker: outcomes, queue wait, batches, inference time, model load, process', async () => {
    const response = await fetch(`${healthUrl}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const value = (series: string) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`${series} `))
          ?.slice(series.length + 1),
      );
    // The two jobs of the first test.
    expect(value('inferq_jobs_finished_total{model="nsfw",status="succeeded",code=""}')).toBe(2);
    expect(value('inferq_job_queue_wait_seconds_count{model="nsfw"}')).toBe(2);
    expect(value('inferq_batch_size_sum{model="nsfw"}')).toBeGreaterThanOrEqual(2);
    expect(value('inferq_inference_duration_seconds_count{model="nsfw"}')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^inferq_model_load_seconds\{model="nsfw",version="[^"]+"\} [0-9.]+$/m);
    expect(text).toMatch(/^inferq_queue_jobs\{model="nsfw",state="waiting"\} 0$/m);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    // The API's validating decode made both jobs' pixels and handed them over through Redis: the
    // worker decoded neither upload.
    expect(value('inferq_worker_preprocessed_total{model="nsfw",source="prepared"}')).toBe(2);
    expect(value('inferq_worker_preprocessed_total{model="nsfw",source="decoded"}') || 0).toBe(0);
  });

  it("hands nsfw's float pixels to the worker through Redis, not Postgres; a job whose pixels are missing, stored the old way, or for another spec gets the same scores", async () => {
    const image = await photoLikeImage(800, 600, 'jpeg');
    const submitted = await submit(caller, image);
    const viaApi = await waitForFinal(caller, submitted.id);
    expect(viaApi.status).toBe('succeeded');

    const db = createDatabase({ url: env.databaseUrl, poolSize: 2 });
    const redis = createRedisConnection({ url: env.redisUrl, role: 'producer' });
    const queue = new InferenceQueue({ connection: redis, name: env.queueName!, prefix: env.queuePrefix });
    const pixels = new PixelStore({ connection: redis, prefix: env.queuePrefix });
    try {
      const stored = await db.jobInput.findUniqueOrThrow({ where: { jobId: submitted.id } });
      expect(stored.pixels).toBeNull();
      // Taken (read and deleted) by the worker that ran the job.
      expect(await pixels.takeMany([submitted.id])).toEqual([undefined]);
      // The float pixels the API makes (four bytes a value).
      const { manifest } = await new ModelRegistry({ root: inject('modelsDir') }).resolve('nsfw');
      const made = (await validateImage(image, {}, { pixels: manifest.input, preparePixels: 'always' })).pixels!;
      expect(made.spec).toBe('v1:224x224x3:fill:alignCorners:f32');
      expect(made.data).toHaveLength(224 * 224 * 3 * 4);

      // The same upload with no pixels anywhere; with pixels in the row, as API versions before
      // the hand-off stored them; with pixels for another input in the row; and with pixels for
      // another input handed over (the worker then reads the upload it skipped and decodes it).
      const jobs = new TestJobs(db);
      const { user } = caller;
      const meta = { data: image, format: 'jpeg', width: 800, height: 600, sha256: '0'.repeat(64) };
      const otherPixels = { data: Buffer.alloc(299 * 299 * 3, 7), spec: 'v1:299x299x3:cover:lanczos3' };
      const bare = await jobs.create({ id: crypto.randomUUID(), userId: user.userId, modelName: 'nsfw', input: meta });
      const legacy = await jobs.create({
        id: crypto.randomUUID(),
        userId: user.userId,
        modelName: 'nsfw',
        input: { ...meta, pixels: made },
      });
      const legacyOtherSpec = await jobs.create({
        id: crypto.randomUUID(),
        userId: user.userId,
        modelName: 'nsfw',
        input: { ...meta, pixels: otherPixels },
      });
      const handedOtherSpec = await jobs.create({
        id: crypto.randomUUID(),
        userId: user.userId,
        modelName: 'nsfw',
        input: meta,
      });
      await pixels.putMany([{ jobId: handedOtherSpec.id, pixels: otherPixels }]);
      const all = [bare, legacy, legacyOtherSpec, handedOtherSpec];
      for (const job of all)
        await queue.enqueue({ jobId: job.id, model: 'nsfw', ...(job === handedOtherSpec ? { pixels: true } : {}) });
      for (const job of all) {
        const decoded = await waitForFinal(caller, job.id);
        expect(decoded.status).toBe('succeeded');
        expect(decoded.result!.output).toEqual(viaApi.result!.output);
      }
      const text = await (await fetch(`${healthUrl}/metrics`)).text();
      // Prepared: the first test's two jobs, this one's API submit and the legacy row.
      expect(text).toMatch(/^inferq_worker_preprocessed_total\{model="nsfw",source="prepared"\} 4$/m);
      expect(text).toMatch(/^inferq_worker_preprocessed_total\{model="nsfw",source="decoded"\} 3$/m);
    } finally {
      await queue.close();
      redis.disconnect();
      await db.$disconnect();
    }
  });

  it('finishes every job exactly once when a worker is SIGKILLed mid-run', async () => {
    const image = await sharp(await drawingImage(256, 256))
      .jpeg()
      .toBuffer();
    const jobs = await Promise.all(Array.from({ length: 24 }, () => submit(caller, image)));
    // Wait until the worker holds some of them (read from Postgres, not through the rate-limited
    // API), then kill it without any chance to clean up.
    const db = new pg.Client({ connectionString: inject('databaseUrl') });
    await db.connect();
    try {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const { rows } = await db.query<{ n: string }>(
          "SELECT count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status IN ('running', 'succeeded')",
          [jobs.map((job) => job.id)],
        );
        if (Number(rows[0]!.n) > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await db.end();
    }
    worker!.kill('SIGKILL');
    await worker!.exited;
    worker = (await startWorkerProcess({ ...env, workerId: 'e2e-2' })).process;

    const finals = await Promise.all(jobs.map((job) => waitForFinal(caller, job.id, 90_000)));
    expect(finals.map((job) => job.status)).toEqual(jobs.map(() => 'succeeded'));
    const client = new pg.Client({ connectionString: inject('databaseUrl') });
    await client.connect();
    try {
      const { rows } = await client.query<{ job_id: string; n: string }>(
        'SELECT job_id, count(*) AS n FROM job_results WHERE job_id = ANY($1::uuid[]) GROUP BY job_id',
        [jobs.map((job) => job.id)],
      );
      expect(rows).toHaveLength(jobs.length);
      expect(rows.every((row) => row.n === '1')).toBe(true);
    } finally {
      await client.end();
    }
  });
});

describe('the default hand-off', () => {
  const env = platformEnv({});
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  afterAll(async () => {
    await stopAll([api, worker]);
  });

  it("leaves nsfw's exact float pixels to the worker's decode, and hands mnist's small ones over", async () => {
    const [a, w] = await Promise.all([startApiProcess(env), startWorkerProcess({ ...env, workerId: 'e2e-default' })]);
    api = a.process;
    worker = w.process;
    const caller = { baseUrl: a.baseUrl, user: await createTestUser(env.databaseUrl) };
    const photo = await submit(caller, await photoLikeImage(800, 600, 'jpeg'));
    const digit = await submit(caller, await photoLikeImage(280, 280, 'png'), { model: 'mnist' });
    expect((await waitForFinal(caller, photo.id)).status).toBe('succeeded');
    expect((await waitForFinal(caller, digit.id)).status).toBe('succeeded');
    const text = await (await fetch(`${w.healthUrl}/metrics`)).text();
    expect(text).toMatch(/^inferq_worker_preprocessed_total\{model="nsfw",source="decoded"\} 1$/m);
    expect(text).toMatch(/^inferq_worker_preprocessed_total\{model="mnist",source="prepared"\} 1$/m);
  });
});
