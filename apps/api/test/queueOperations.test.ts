import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { photoLikeImage } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { imageForm, sharedTestApi, type ErrorJson } from './apiHarness.ts';

/**
 * The operators' bulk actions on real Postgres and Redis. No worker serves this test's queue, so
 * jobs stay where a test puts them; every retry and clean is scoped to a user of its own, since
 * other test files share the database.
 */
describe('the operators’ queue routes: pause, resume, retry all failed, clean, find by id', () => {
  const api = sharedTestApi();

  async function submitAs(
    user: TestUser,
    fileName = 'photo.jpg',
  ): Promise<{ id: string; input: { fileName: string | null } }> {
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: user.headers,
      body: imageForm(await photoLikeImage(64, 48), {}, fileName),
    });
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string; input: { fileName: string | null } };
  }

  const post = (route: string, body: unknown, user: TestUser = api.admin) =>
    fetch(`${api.baseUrl}${route}`, {
      method: 'POST',
      headers: { ...user.headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it.each([
    ['GET', '/v1/admin/queue'],
    ['POST', '/v1/admin/queue/pause'],
    ['POST', '/v1/admin/queue/resume'],
    ['POST', '/v1/admin/jobs/retry-failed'],
    ['POST', '/v1/admin/jobs/clean'],
    ['GET', '/v1/admin/jobs/00000000-0000-4000-8000-000000000000'],
  ])(
    'answers %s %s with 403 FORBIDDEN to a user who is not an administrator, and does nothing',
    async (method, route) => {
      const response = await fetch(`${api.baseUrl}${route}`, {
        method,
        headers: { ...api.user.headers, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{"statuses":["succeeded"],"olderThanSeconds":0}' } : {}),
      });
      expect(response.status).toBe(403);
      expect(((await response.json()) as ErrorJson).error.code).toBe('FORBIDDEN');
      expect(await api.queue.isPaused()).toBe(false);
    },
  );

  it('pauses and resumes the queue in Redis, idempotently, and says which queues', async () => {
    const paused = await post('/v1/admin/queue/pause', {});
    expect(paused.status).toBe(200);
    expect(await paused.json()).toEqual({ paused: true, queues: [api.queue.name] });
    expect(await api.queue.isPaused()).toBe(true);
    expect((await post('/v1/admin/queue/pause', {})).status).toBe(200);
    expect(await (await fetch(`${api.baseUrl}/v1/admin/queue`, { headers: api.admin.headers })).json()).toEqual({
      paused: true,
      queues: [api.queue.name],
    });
    expect(
      (
        (await (await fetch(`${api.baseUrl}/v1/admin/overview`, { headers: api.admin.headers })).json()) as {
          paused: boolean;
        }
      ).paused,
    ).toBe(true);
    // Paused, the queue still takes submissions.
    await submitAs(api.user);

    const resumed = await post('/v1/admin/queue/resume', {});
    expect(await resumed.json()).toEqual({ paused: false, queues: [api.queue.name] });
    expect(await api.queue.isPaused()).toBe(false);
  });

  it("retries one user's failed jobs, all of them, under their ids, and leaves every other job alone", async () => {
    const [owner, other] = await Promise.all([
      createTestUser(inject('databaseUrl')),
      createTestUser(inject('databaseUrl')),
    ]);
    const failed = [await submitAs(owner), await submitAs(owner)];
    const stillQueued = await submitAs(owner);
    const othersFailed = await submitAs(other);
    for (const job of [...failed, othersFailed])
      await api.jobs.fail(job.id, 'INFERENCE_FAILED', 'The model rejected this input.');

    const response = await post('/v1/admin/jobs/retry-failed', { userId: owner.userId });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ retried: 2, remaining: 0 });
    for (const job of failed) {
      expect(await api.jobs.get(job.id)).toMatchObject({ status: 'queued', errorCode: null, finishedAt: null });
      expect(['waiting', 'prioritized']).toContain(await (await api.queue.queueFor('nsfw').getJob(job.id))!.getState());
    }
    expect((await api.jobs.get(stillQueued.id))!.status).toBe('queued');
    expect(await api.jobs.get(othersFailed.id)).toMatchObject({ status: 'failed', errorCode: 'INFERENCE_FAILED' });
    // Nothing left to retry: the second press is a no-op.
    expect(await (await post('/v1/admin/jobs/retry-failed', { userId: owner.userId })).json()).toEqual({
      retried: 0,
      remaining: 0,
    });
  });

  it('stops at the limit and says how many failed jobs remain', async () => {
    const owner = await createTestUser(inject('databaseUrl'));
    const jobs = [await submitAs(owner), await submitAs(owner), await submitAs(owner)];
    for (const job of jobs) await api.jobs.fail(job.id, 'INTERNAL', 'x');
    expect(await (await post('/v1/admin/jobs/retry-failed', { userId: owner.userId, limit: 2 })).json()).toEqual({
      retried: 2,
      remaining: 1,
    });
  });

  it('cleans finished jobs older than the age given: counted by a dry run, then deleted from Postgres and from the queue', async () => {
    const owner = await createTestUser(inject('databaseUrl'));
    const [canceled, succeeded, failed, queued] = [
      await submitAs(owner),
      await submitAs(owner),
      await submitAs(owner),
      await submitAs(owner),
    ];
    expect(
      (await fetch(`${api.baseUrl}/v1/jobs/${canceled.id}/cancel`, { method: 'POST', headers: owner.headers })).status,
    ).toBe(200);
    await api.jobs.fail(failed.id, 'INTERNAL', 'x');
    // Succeeded as a worker would leave it: the row final, BullMQ's entry kept as completed.
    await api.deps.db.job.update({
      where: { id: succeeded.id },
      data: { status: 'succeeded', finishedAt: new Date() },
    });
    expect(await api.queue.queueFor('nsfw').getJob(succeeded.id)).toBeDefined();

    const body = { statuses: ['succeeded', 'canceled'], olderThanSeconds: 0, userId: owner.userId };
    // Finished less than an hour ago: an hour's age matches nothing.
    expect(
      await (await post('/v1/admin/jobs/clean', { ...body, olderThanSeconds: 3600, dryRun: true })).json(),
    ).toEqual({ deleted: 0, remaining: 0, dryRun: true });
    expect(await (await post('/v1/admin/jobs/clean', { ...body, dryRun: true })).json()).toEqual({
      deleted: 2,
      remaining: 0,
      dryRun: true,
    });
    expect(await api.jobs.get(canceled.id)).not.toBeNull();

    const cleaned = await post('/v1/admin/jobs/clean', body);
    expect(cleaned.status).toBe(200);
    expect(await cleaned.json()).toEqual({ deleted: 2, remaining: 0, dryRun: false });
    expect(await api.jobs.get(canceled.id)).toBeNull();
    expect(await api.jobs.get(succeeded.id)).toBeNull();
    expect(await api.queue.queueFor('nsfw').getJob(succeeded.id)).toBeUndefined();
    expect((await api.jobs.get(failed.id))!.status).toBe('failed');
    expect((await api.jobs.get(queued.id))!.status).toBe('queued');
    expect(await api.queue.queueFor('nsfw').getJob(queued.id)).toBeDefined();
    // The owner's list no longer has them either.
    const list = (await (await fetch(`${api.baseUrl}/v1/jobs`, { headers: owner.headers })).json()) as {
      data: Array<{ id: string }>;
    };
    expect(list.data.map((job) => job.id).sort()).toEqual([failed.id, queued.id].sort());
  });

  it.each([
    ['no status', { statuses: [], olderThanSeconds: 0 }],
    ['an unfinished status', { statuses: ['queued'], olderThanSeconds: 0 }],
    ['a negative age', { statuses: ['succeeded'], olderThanSeconds: -1 }],
    ['an age that is not a number', { statuses: ['succeeded'], olderThanSeconds: '1 day' }],
    ['no age', { statuses: ['succeeded'] }],
    ['a limit too large', { statuses: ['succeeded'], olderThanSeconds: 0, limit: 1_000_000 }],
  ])('refuses a clean with %s: 400 VALIDATION_FAILED', async (_case, body) => {
    const response = await post('/v1/admin/jobs/clean', body);
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorJson).error.code).toBe('VALIDATION_FAILED');
  });

  it('finds any user’s job by id, with its owner and file name', async () => {
    const job = await submitAs(api.user, 'holiday photo.jpg');
    const found = await fetch(`${api.baseUrl}/v1/admin/jobs/${job.id}`, { headers: api.admin.headers });
    expect(found.status).toBe(200);
    expect(await found.json()).toMatchObject({
      id: job.id,
      userId: api.user.userId,
      status: 'queued',
      input: { fileName: 'holiday photo.jpg' },
    });
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const missing = await fetch(`${api.baseUrl}/v1/admin/jobs/${id}`, { headers: api.admin.headers });
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as ErrorJson).error.code).toBe('JOB_NOT_FOUND');
    }
  });

  it.each([
    ['holiday photo.jpg', 'holiday photo.jpg'],
    ['café 東京.jpg', 'café 東京.jpg'],
    ['evil\u202egpj.exe', 'evilgpj.exe'],
    ['C:\\Users\\me\\Pictures\\cat.jpg', 'cat.jpg'],
    [`${'a'.repeat(300)}.jpg`, `${'a'.repeat(195)}….jpg`],
  ])('stores the uploaded file name %j as %j, and the job view says it', async (sent, stored) => {
    const job = await submitAs(api.user, sent);
    expect(job.input.fileName).toBe(stored);
    const read = (await (await fetch(`${api.baseUrl}/v1/jobs/${job.id}`, { headers: api.user.headers })).json()) as {
      input: { fileName: string | null };
    };
    expect(read.input.fileName).toBe(stored);
  });
});
