import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { validJpeg, validPng } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { apiPerTest, imageForm, type TestApi } from './apiHarness.ts';

const start = apiPerTest();

async function submitBatch(
  target: TestApi,
  user: TestUser,
  images: Buffer[],
): Promise<{ status: number; headers: Headers; body: any }> {
  const form = new FormData();
  images.forEach((bytes, i) =>
    form.append('image', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), `image-${i}.jpg`),
  );
  const response = await fetch(`${target.baseUrl}/v1/jobs/batch`, {
    method: 'POST',
    headers: user.headers,
    body: form,
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

async function submit(target: TestApi, user: TestUser, image?: Buffer): Promise<Response> {
  return fetch(`${target.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: user.headers,
    body: imageForm(image ?? (await validJpeg(64, 64))),
  });
}

/** Finishes jobs the way the worker does: results through completeMany, failures through fail. */
async function finish(target: TestApi, ids: string[]): Promise<void> {
  const [first, ...rest] = ids;
  for (const id of ids) await target.jobs.start(id, 'test-worker');
  await target.jobs.completeMany(
    rest.map((id) => ({
      id,
      workerId: 'test-worker',
      inferenceMs: 1,
      result: { modelName: 'nsfw', modelVersion: '1', output: [[1]] },
    })),
  );
  if (first) await target.jobs.fail(first, 'INFERENCE_FAILED', 'test');
}

describe('per-user quota of queued + running jobs', () => {
  it('answers the (max+1)th job with 429 QUOTA_EXCEEDED, then accepts again once jobs finish', async () => {
    const target = await start({ tierOverrides: { free: { maxJobsInFlight: 3 } } });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await submit(target, target.user);
      expect(response.status).toBe(202);
      ids.push((await response.json()).id);
    }
    const rowsBefore = await target.deps.db.job.count();
    const refused = await submit(target, target.user);
    expect(refused.status).toBe(429);
    const body = await refused.json();
    expect(body.error.code).toBe('QUOTA_EXCEEDED');
    expect(body.error.details).toEqual({ inFlight: 3, maxInFlight: 3, tier: 'free' });
    expect(await target.deps.db.job.count()).toBe(rowsBefore);

    // Running jobs count too.
    await target.jobs.start(ids[0]!, 'test-worker');
    expect((await submit(target, target.user)).status).toBe(429);

    await finish(target, ids.slice(0, 2));
    expect((await submit(target, target.user)).status).toBe(202);
    expect((await submit(target, target.user)).status).toBe(202);
    expect((await submit(target, target.user)).status).toBe(429);
  });

  it('frees a slot when a job is canceled', async () => {
    const target = await start({ tierOverrides: { free: { maxJobsInFlight: 1 } } });
    const first = await (await submit(target, target.user)).json();
    expect((await submit(target, target.user)).status).toBe(429);
    const canceled = await fetch(`${target.baseUrl}/v1/jobs/${first.id}/cancel`, {
      method: 'POST',
      headers: target.user.headers,
    });
    expect(canceled.status).toBe(200);
    expect((await submit(target, target.user)).status).toBe(202);
  });

  it('holds under concurrent submissions: exactly max are accepted', async () => {
    const target = await start({ tierOverrides: { free: { maxJobsInFlight: 4 } } });
    const image = await validJpeg(64, 64);
    const statuses = await Promise.all(
      Array.from({ length: 12 }, () => submit(target, target.user, image).then((response) => response.status)),
    );
    expect(statuses.filter((status) => status === 202)).toHaveLength(4);
    expect(statuses.filter((status) => status === 429)).toHaveLength(8);
    expect(await target.deps.db.job.count({ where: { userId: target.user.userId } })).toBe(4);
  });

  it('is per user: another user still submits', async () => {
    const target = await start({ tierOverrides: { free: { maxJobsInFlight: 1 } } });
    expect((await submit(target, target.user)).status).toBe(202);
    expect((await submit(target, target.user)).status).toBe(429);
    expect((await submit(target, await createTestUser(inject('databaseUrl')))).status).toBe(202);
  });
});

describe('global cap on work in the system', () => {
  it('answers 503 QUEUE_FULL with Retry-After and writes nothing', async () => {
    const target = await start({ maxQueuedJobs: 2 });
    const other = await createTestUser(inject('databaseUrl'));
    expect((await submit(target, target.user)).status).toBe(202);
    expect((await submit(target, other)).status).toBe(202);

    const rowsBefore = await target.deps.db.job.count();
    for (const user of [target.user, other]) {
      const refused = await submit(target, user);
      expect(refused.status).toBe(503);
      expect((await refused.json()).error.code).toBe('QUEUE_FULL');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    expect(await target.deps.db.job.count()).toBe(rowsBefore);
    expect(await target.queue.inFlightCount()).toBe(2);
  });

  it('holds per image: concurrent batches of many users never admit more jobs than the cap', async () => {
    const cap = 30;
    const target = await start({ maxQueuedJobs: cap });
    const users = await Promise.all(Array.from({ length: 5 }, () => createTestUser(inject('databaseUrl'))));
    const images = await Promise.all(Array.from({ length: 10 }, (_, i) => validJpeg(64 + i, 64)));
    // Five clients, two batches of ten each, all at once: 100 images against room for 30.
    const answers = await Promise.all(
      users.flatMap((user) => [submitBatch(target, user, images), submitBatch(target, user, images)]),
    );
    let admitted = 0;
    for (const answer of answers) {
      if (answer.status === 503) {
        expect(answer.body.error.code).toBe('QUEUE_FULL');
        continue;
      }
      admitted += answer.body.accepted;
      for (const item of answer.body.data)
        if (!item.job)
          expect({ status: item.status, code: item.error.code }).toEqual({ status: 503, code: 'QUEUE_FULL' });
    }
    expect(admitted).toBeGreaterThan(0);
    expect(admitted).toBeLessThanOrEqual(cap);
    expect(await target.deps.db.job.count({ where: { userId: { in: users.map((user) => user.userId) } } })).toBe(
      admitted,
    );
    expect(await target.queue.inFlightCount()).toBe(admitted);
  });

  it('admits the images of a batch that fit and refuses the others with QUEUE_FULL each', async () => {
    const target = await start({ maxQueuedJobs: 3 });
    const answer = await submitBatch(
      target,
      target.user,
      await Promise.all(Array.from({ length: 5 }, (_, i) => validJpeg(64 + i, 64))),
    );
    expect(answer.status).toBe(202);
    expect(
      answer.body.data.map((item: { status: number; error: { code: string } | null }) => [
        item.status,
        item.error?.code ?? null,
      ]),
    ).toEqual([
      [202, null],
      [202, null],
      [202, null],
      [503, 'QUEUE_FULL'],
      [503, 'QUEUE_FULL'],
    ]);
    expect(await target.queue.inFlightCount()).toBe(3);
  });

  it('counts the room other admissions hold: a batch refused as a whole answers 503 QUEUE_FULL with Retry-After', async () => {
    const target = await start({ maxQueuedJobs: 2 });
    // Another API process between its check and its enqueue, holding the room for two jobs.
    await target.queue.connection.zadd(
      `${target.queue.prefix}:${target.queue.baseName}:capacity-reservations`,
      Date.now() + 20_000,
      `${randomUUID()}:2`,
    );
    const answer = await submitBatch(target, target.user, [await validJpeg(64, 64), await validJpeg(65, 64)]);
    expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status: 503, code: 'QUEUE_FULL' });
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await target.deps.db.job.count({ where: { userId: target.user.userId } })).toBe(0);
  });

  it('answers a batch whose every enqueue failed with 503 QUEUE_UNAVAILABLE and Retry-After, keeping no row', async () => {
    const target = await start({});
    // The queue's job counter made unusable: every add of the model's queue fails in Redis.
    await target.queue.connection.set(target.queue.queueFor('nsfw').keys.id!, 'not-a-number');
    const answer = await submitBatch(target, target.user, [await validJpeg(64, 64), await validJpeg(65, 64)]);
    expect({ status: answer.status, code: answer.body.error?.code }).toEqual({
      status: 503,
      code: 'QUEUE_UNAVAILABLE',
    });
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await target.deps.db.job.count({ where: { userId: target.user.userId } })).toBe(0);
  });
});

describe('tier limits on the upload', () => {
  it.each([
    ['more bytes than the tier allows', { maxUploadBytes: 1000 }, () => validPng(200, 200), { maxBytes: 1000 }],
    [
      'more pixels than the tier allows',
      { maxPixels: 64 * 64 - 1 },
      () => validPng(64, 64),
      { maxPixels: 64 * 64 - 1 },
    ],
  ])('answers 413 IMAGE_TOO_LARGE for %s, below the global limit', async (_name, tier, image, details) => {
    const target = await start({ tierOverrides: { free: tier } });
    const response = await submit(target, target.user, await image());
    expect(response.status).toBe(413);
    const body = await response.json();
    expect(body.error.code).toBe('IMAGE_TOO_LARGE');
    expect(body.error.details).toMatchObject(details);
    // A pro user's tier allows it.
    expect(
      (await submit(target, await createTestUser(inject('databaseUrl'), { tier: 'pro' }), await image())).status,
    ).toBe(202);
  });
});

describe('priority and retention', () => {
  it("enqueues with the tier's priority plus a step per job in flight, and stores the retention end", async () => {
    const target = await start({});
    const free = target.user;
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const submittedIds: string[] = [];
    const priorities = async (user: TestUser, count: number) => {
      const values: number[] = [];
      for (let i = 0; i < count; i++) {
        const { id } = await (await submit(target, user)).json();
        submittedIds.push(id);
        values.push((await target.queue.queueFor('nsfw').getJob(id))!.opts.priority!);
      }
      return values;
    };
    // free: priority 10, step 4; pro: priority 1, step 1.
    expect(await priorities(free, 3)).toEqual([10, 14, 18]);
    expect(await priorities(pro, 3)).toEqual([1, 2, 3]);
    expect(await priorities(await createTestUser(inject('databaseUrl')), 1)).toEqual([10]);

    // The pro user's first job, submitted with nothing else of theirs in flight.
    const row = await target.deps.db.job.findUniqueOrThrow({ where: { id: submittedIds[3]! } });
    expect(row.priority).toBe(1);
    const retentionDays = (row.expiresAt!.getTime() - row.createdAt.getTime()) / (24 * 3600 * 1000);
    expect(retentionDays).toBeCloseTo(30, 2);
  });
});
