import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { BatchView } from '@inferq/core';
import { createDatabase } from '@inferq/db';
import { JobWaiter } from '@inferq/jobs';
import { photoLikeImage, textFile, validJpeg, validPng } from '@inferq/images/testing';
import { createRedisConnection, JobEventPublisher, JobEventSubscriber } from '@inferq/queue';
import { TestJobs, type TestUser } from '@inferq/testing';
import { apiPerTest, imageForm, type TestApi } from './apiHarness.ts';

const start = apiPerTest();
const lifted = { submitsPerWindow: 100_000, submitBurst: 0, requestsPerWindow: 100_000 };
const closers: Array<() => unknown> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

function batchForm(images: Buffer[], fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  images.forEach((bytes, i) => form.append('image', new Blob([new Uint8Array(bytes)]), `image-${i}.jpg`));
  return form;
}

async function submitBatch(
  target: TestApi,
  images: Buffer[],
  options: { user?: TestUser; headers?: Record<string, string>; fields?: Record<string, string> } = {},
) {
  const response = await fetch(`${target.baseUrl}/v1/jobs/batch`, {
    method: 'POST',
    headers: { ...(options.user ?? target.user).headers, ...options.headers },
    body: batchForm(images, options.fields),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as BatchView & { error?: { code: string } },
  };
}

const storedJobs = (target: TestApi) => target.deps.db.job.count({ where: { userId: target.user.userId } });

describe('POST /v1/jobs/batch', () => {
  it('makes one job per valid image and gives each bad image its own error, in order', async () => {
    // One image a byte over the tier's limit: the body as a whole is well within the batch's.
    const large = await photoLikeImage(300, 200, 'png');
    const target = await start({ tierOverrides: { free: { ...lifted, maxUploadBytes: large.length - 1 } } });
    const { status, body } = await submitBatch(target, [
      await validJpeg(64, 48),
      await validPng(64, 48),
      textFile(),
      await validJpeg(80, 60),
      large,
    ]);
    expect(status).toBe(202);
    expect(body.data.map((item) => [item.index, item.status, item.error?.code ?? null])).toEqual([
      [0, 202, null],
      [1, 202, null],
      [2, 400, 'INVALID_IMAGE'],
      [3, 202, null],
      [4, 413, 'IMAGE_TOO_LARGE'],
    ]);
    expect(body).toMatchObject({ accepted: 3, refused: 2 });
    const ids = body.data.flatMap((item) => (item.job ? [item.job.id] : []));
    expect(new Set(ids).size).toBe(3);
    expect(body.data[1]!.job).toMatchObject({
      status: 'queued',
      input: { format: 'png', width: 64, height: 48, fileName: 'image-1.jpg' },
    });
    expect(await storedJobs(target)).toBe(3);
    const queued = await Promise.all(ids.map((id) => target.queue.getJob(id, 'nsfw')));
    expect(queued.every((job) => job !== undefined)).toBe(true);
  });

  it('holds the quota within the batch: the images past it are refused 429 QUOTA_EXCEEDED, each on its own', async () => {
    const target = await start({ tierOverrides: { free: { ...lifted, maxJobsInFlight: 2 } } });
    const image = await validJpeg(64, 48);
    const { status, body } = await submitBatch(target, [image, image, image, image]);
    expect(status).toBe(202);
    expect(body.data.map((item) => item.status)).toEqual([202, 202, 429, 429]);
    expect(body.data[2]!.error).toMatchObject({ code: 'QUOTA_EXCEEDED', details: { maxInFlight: 2 } });
    expect(await storedJobs(target)).toBe(2);
  });

  it('holds concurrent batches to the quota together: exactly max jobs are stored', async () => {
    const target = await start({ tierOverrides: { free: { ...lifted, maxJobsInFlight: 5 } } });
    const image = await validJpeg(64, 48);
    const answers = await Promise.all(Array.from({ length: 4 }, () => submitBatch(target, [image, image, image])));
    const accepted = answers.flatMap((answer) => answer.body.data).filter((item) => item.status === 202);
    expect(accepted).toHaveLength(5);
    expect(await storedJobs(target)).toBe(5);
  });

  it.each([
    ['more images than the tier takes', { maxBatchImages: 2 }, 3, 400, 'VALIDATION_FAILED'],
    ['no image at all', {}, 0, 400, 'MISSING_IMAGE'],
  ])('refuses %s as a whole and stores nothing', async (_name, tier, count, expectedStatus, code) => {
    const target = await start({ tierOverrides: { free: { ...lifted, ...tier } } });
    const image = await validJpeg(64, 48);
    const { status, body } = await submitBatch(
      target,
      Array.from({ length: count }, () => image),
      { fields: { model: 'nsfw' } },
    );
    expect(status).toBe(expectedStatus);
    expect(body.error?.code).toBe(code);
    expect(await storedJobs(target)).toBe(0);
  });

  it('refuses an unknown model for the whole batch', async () => {
    const target = await start({ tierOverrides: { free: lifted } });
    const { status, body } = await submitBatch(target, [await validJpeg(64, 48)], {
      fields: { model: 'no-such-model' },
    });
    expect(status).toBe(400);
    expect(body.error?.code).toBe('UNKNOWN_MODEL');
  });

  it('spends one unit of the submit rate limit per image, and refuses the whole batch past it', async () => {
    const target = await start({
      tierOverrides: { free: { submitsPerWindow: 3, submitBurst: 0, requestsPerWindow: 100 } },
    });
    const image = await validJpeg(64, 48);
    expect((await submitBatch(target, [image, image])).status).toBe(202);
    const refused = await submitBatch(target, [image, image]);
    expect(refused.status).toBe(429);
    expect(refused.body.error?.code).toBe('RATE_LIMITED');
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await storedJobs(target)).toBe(2);
  });

  it('answers the same jobs to a retried batch with the same Idempotency-Key (200 per image)', async () => {
    const target = await start({ tierOverrides: { free: lifted } });
    const images = [await validJpeg(64, 48), await validJpeg(80, 60)];
    const key = `batch-${randomUUID()}`;
    const first = await submitBatch(target, images, { headers: { 'Idempotency-Key': key } });
    const again = await submitBatch(target, images, { headers: { 'Idempotency-Key': key } });
    expect(again.body.data.map((item) => item.job?.id)).toEqual(first.body.data.map((item) => item.job?.id));
    expect(again.body.data.map((item) => item.status)).toEqual([200, 200]);
    expect(await storedJobs(target)).toBe(2);
  });

  it("keeps a batch's keys apart from single submits': K on a batch never replays a single submit made with K:0", async () => {
    const target = await start({ tierOverrides: { free: lifted } });
    const image = await validJpeg(64, 48);
    const key = `batch-${randomUUID()}`;
    const single = await fetch(`${target.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...target.user.headers, 'Idempotency-Key': `${key}:0` },
      body: imageForm(image),
    });
    expect(single.status).toBe(202);
    const singleId = ((await single.json()) as { id: string }).id;
    const batch = await submitBatch(target, [image], { headers: { 'Idempotency-Key': key } });
    expect(batch.body.data.map((item) => item.status)).toEqual([202]);
    expect(batch.body.data[0]?.job?.id).not.toBe(singleId);
    // And the other way round: the single key still answers its own job.
    const again = await fetch(`${target.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...target.user.headers, 'Idempotency-Key': `${key}:0` },
      body: imageForm(image),
    });
    expect({ status: again.status, id: ((await again.json()) as { id: string }).id }).toEqual({
      status: 200,
      id: singleId,
    });
    expect(await storedJobs(target)).toBe(2);
  });

  it('waits (Prefer: wait) for every job of the batch, then answers 200 with their results', async () => {
    const prefix = `${inject('queuePrefix')}:${randomUUID()}`;
    const subscribed = createRedisConnection({ url: inject('redisUrl'), role: 'consumer' });
    const publishing = createRedisConnection({ url: inject('redisUrl'), role: 'consumer' });
    const subscriber = new JobEventSubscriber({ connection: subscribed, prefix });
    await subscriber.start();
    const db = createDatabase({ url: inject('databaseUrl') });
    closers.push(
      () => subscribed.disconnect(),
      () => publishing.disconnect(),
      () => subscriber.close(),
      () => db.$disconnect(),
    );
    const writer = new TestJobs(db);
    const publisher = new JobEventPublisher({ connection: publishing, prefix });
    const target = await start({
      waiter: new JobWaiter({ subscriber, read: (ids) => Promise.all(ids.map((id) => writer.get(id))) }),
      tierOverrides: { free: lifted },
    });
    const image = await validJpeg(64, 48);

    const answer = submitBatch(target, [image, image, image], { headers: { Prefer: 'wait=20' } });
    // A worker's part: finish the jobs once they are stored.
    let ids: string[] = [];
    await expect
      .poll(
        async () =>
          (ids = (await target.deps.db.job.findMany({ where: { userId: target.user.userId } })).map((job) => job.id))
            .length,
        { timeout: 10_000 },
      )
      .toBe(3);
    await writer.completeMany(
      ids.map((id) => ({
        id,
        workerId: 'test',
        inferenceMs: 1,
        result: { modelName: 'nsfw', modelVersion: '1', output: [[1]] },
      })),
    );
    await publisher.publishMany(
      ids.map((jobId) => ({ jobId, userId: target.user.userId, status: 'succeeded' as const })),
    );

    const { status, headers, body } = await answer;
    expect(status).toBe(200);
    expect(headers.get('preference-applied')).toBe('wait=20');
    expect(body.data.map((item) => [item.status, item.job?.status])).toEqual([
      [200, 'succeeded'],
      [200, 'succeeded'],
      [200, 'succeeded'],
    ]);
  });
});
