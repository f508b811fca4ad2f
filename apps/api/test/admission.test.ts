import { describe, expect, inject, it } from 'vitest';
import { validJpeg, validPng } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { apiPerTest, imageForm, type TestApi } from './apiHarness.ts';

const start = apiPerTest();

async function submit(target: TestApi, user: TestUser, image?: Buffer): Promise<Response> {
  return fetch(`${target.baseUrl}/v1/jobs`, { method: 'POST', headers: user.headers, body: imageForm(image ?? (await validJpeg(64, 64))) });
}

/** Finishes jobs the way the worker does: results through completeMany, failures through fail. */
async function finish(target: TestApi, ids: string[]): Promise<void> {
  const [first, ...rest] = ids;
  for (const id of ids) await target.jobs.start(id, 'test-worker');
  await target.jobs.completeMany(rest.map((id) => ({ id, workerId: 'test-worker', inferenceMs: 1, result: { modelName: 'nsfw', modelVersion: '1', output: [[1]] } })));
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
    const canceled = await fetch(`${target.baseUrl}/v1/jobs/${first.id}/cancel`, { method: 'POST', headers: target.user.headers });
    expect(canceled.status).toBe(200);
    expect((await submit(target, target.user)).status).toBe(202);
  });

  it('holds under concurrent submissions: exactly max are accepted', async () => {
    const target = await start({ tierOverrides: { free: { maxJobsInFlight: 4 } } });
    const image = await validJpeg(64, 64);
    const statuses = await Promise.all(Array.from({ length: 12 }, () => submit(target, target.user, image).then((response) => response.status)));
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
});

describe('tier limits on the upload', () => {
  it.each([
    ['more bytes than the tier allows', { maxUploadBytes: 1000 }, () => validPng(200, 200), { maxBytes: 1000 }],
    ['more pixels than the tier allows', { maxPixels: 64 * 64 - 1 }, () => validPng(64, 64), { maxPixels: 64 * 64 - 1 }],
  ])('answers 413 IMAGE_TOO_LARGE for %s, below the global limit', async (_name, tier, image, details) => {
    const target = await start({ tierOverrides: { free: tier } });
    const response = await submit(target, target.user, await image());
    expect(response.status).toBe(413);
    const body = await response.json();
    expect(body.error.code).toBe('IMAGE_TOO_LARGE');
    expect(body.error.details).toMatchObject(details);
    // A pro user's tier allows it.
    expect((await submit(target, await createTestUser(inject('databaseUrl'), { tier: 'pro' }), await image())).status).toBe(202);
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
