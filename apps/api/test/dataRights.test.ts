import { describe, expect, inject, it } from 'vitest';
import { InferQClient, InferQError } from '@inferq/client';
import { validJpeg } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { imageForm, sharedTestApi, type ErrorJson } from './apiHarness.ts';

/**
 * Data rights: a user deletes a job or their whole account, with everything stored for it (row,
 * input, result, webhook deliveries, queue entry); an administrator disables and enables a user.
 */
describe('data rights', () => {
  const api = sharedTestApi();

  async function submit(user: TestUser): Promise<string> {
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: user.headers,
      body: imageForm(await validJpeg(64, 64)),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  }

  function deleteJob(user: TestUser, id: string): Promise<Response> {
    return fetch(`${api.baseUrl}/v1/jobs/${id}`, { method: 'DELETE', headers: user.headers });
  }

  /** Rows of the job in every table that holds its data. */
  async function storedRows(id: string) {
    const { db } = api.deps;
    const [jobs, inputs, results, deliveries] = await Promise.all([
      db.job.count({ where: { id } }),
      db.jobInput.count({ where: { jobId: id } }),
      db.jobResult.count({ where: { jobId: id } }),
      db.webhookDelivery.count({ where: { jobId: id } }),
    ]);
    return { jobs, inputs, results, deliveries };
  }

  const none = { jobs: 0, inputs: 0, results: 0, deliveries: 0 };
  const result = { modelName: 'nsfw', modelVersion: '1.0.0', output: [[0.1, 0.9]] };

  it('DELETE /v1/jobs/:id removes a queued job, its input and its queue entry; then it is JOB_NOT_FOUND', async () => {
    const id = await submit(api.user);
    expect(await api.queue.queueFor('nsfw').getJob(id)).toBeTruthy();
    expect((await storedRows(id)).inputs).toBe(1);

    const deleted = await deleteJob(api.user, id);
    expect(deleted.status).toBe(204);
    expect(await storedRows(id)).toEqual(none);
    expect(await api.queue.queueFor('nsfw').getJob(id)).toBeUndefined();
    const read = await fetch(`${api.baseUrl}/v1/jobs/${id}`, { headers: api.user.headers });
    expect(read.status).toBe(404);
    expect(((await read.json()) as ErrorJson).error.code).toBe('JOB_NOT_FOUND');
    expect((await deleteJob(api.user, id)).status).toBe(404);
  });

  it("answers 404 JOB_NOT_FOUND for another user's job, and for a malformed id, and deletes nothing", async () => {
    const id = await submit(api.user);
    const other = await createTestUser(inject('databaseUrl'));
    const refused = await deleteJob(other, id);
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as ErrorJson).error.code).toBe('JOB_NOT_FOUND');
    expect((await storedRows(id)).jobs).toBe(1);
    expect((await deleteJob(api.user, 'not-a-job')).status).toBe(404);
  });

  it("deletes a running job, and the worker's late result does not bring it back", async () => {
    const id = await submit(api.user);
    expect((await api.jobs.start(id, 'worker-1'))?.status).toBe('running');
    expect((await deleteJob(api.user, id)).status).toBe(204);
    // The attempt finishes after the delete: every write is conditional on the row, and it is gone.
    expect(await api.jobs.completeMany([{ id, workerId: 'worker-1', result, inferenceMs: 5 }])).toEqual([]);
    expect(await api.jobs.fail(id, 'INFERENCE_FAILED', 'late')).toBe(false);
    expect(await storedRows(id)).toEqual(none);
    expect((await fetch(`${api.baseUrl}/v1/jobs/${id}`, { headers: api.user.headers })).status).toBe(404);
  });

  it('deletes a finished job with its result and webhook deliveries', async () => {
    const id = await submit(api.user);
    await api.jobs.start(id, 'worker-1');
    expect(await api.jobs.completeMany([{ id, workerId: 'worker-1', result, inferenceMs: 5 }])).toEqual([id]);
    await api.deps.db.webhookDelivery.create({
      data: { jobId: id, attempt: 1, url: 'https://hooks.example.com/x', statusCode: 200 },
    });
    expect(await storedRows(id)).toEqual({ jobs: 1, inputs: 1, results: 1, deliveries: 1 });
    expect((await deleteJob(api.user, id)).status).toBe(204);
    expect(await storedRows(id)).toEqual(none);
  });

  describe('DELETE /v1/account', () => {
    function deleteAccount(user: TestUser, body?: unknown): Promise<Response> {
      return fetch(`${api.baseUrl}/v1/account`, {
        method: 'DELETE',
        headers: { ...user.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    }

    it.each([
      ['no body', undefined, 'CONFIRMATION_REQUIRED'],
      ['no confirm', {}, 'CONFIRMATION_REQUIRED'],
      ['another email', { confirm: 'someone-else@test.inferq' }, 'CONFIRMATION_REQUIRED'],
      ['an unknown field', { confirm: 'x@test.inferq', force: true }, 'VALIDATION_FAILED'],
    ])('refuses with %s (400 %s) and changes nothing', async (_case, body, code) => {
      const user = await createTestUser(inject('databaseUrl'));
      const id = await submit(user);
      const refused = await deleteAccount(user, body);
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as ErrorJson).error.code).toBe(code);
      expect((await fetch(`${api.baseUrl}/v1/jobs/${id}`, { headers: user.headers })).status).toBe(200);
    });

    it("erases every job (queued ones leave the queue), the keys and the user, and nobody else's", async () => {
      const user = await createTestUser(inject('databaseUrl'));
      const queued = await submit(user);
      const finished = await submit(user);
      await api.jobs.start(finished, 'worker-1');
      await api.jobs.completeMany([{ id: finished, workerId: 'worker-1', result, inferenceMs: 5 }]);
      const othersJob = await submit(api.user);

      const response = await deleteAccount(user, { confirm: user.email.toUpperCase() });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ userId: user.userId, email: user.email, jobsDeleted: 2 });

      expect(await storedRows(queued)).toEqual(none);
      expect(await storedRows(finished)).toEqual(none);
      expect(await api.queue.queueFor('nsfw').getJob(queued)).toBeUndefined();
      expect(await api.deps.db.user.count({ where: { id: user.userId } })).toBe(0);
      expect(await api.deps.db.apiKey.count({ where: { userId: user.userId } })).toBe(0);
      const after = await fetch(`${api.baseUrl}/v1/account`, { headers: user.headers });
      expect(after.status).toBe(401);
      expect((await storedRows(othersJob)).jobs).toBe(1);
    });
  });

  describe('an administrator disables and enables a user', () => {
    const post = (by: TestUser, path: string) =>
      fetch(`${api.baseUrl}/v1/admin/users/${path}`, { method: 'POST', headers: by.headers });

    it('stops every key of the user on the next request, keeps their data, and enable undoes it', async () => {
      const user = await createTestUser(inject('databaseUrl'));
      const id = await submit(user);
      expect((await fetch(`${api.baseUrl}/v1/jobs`, { headers: user.headers })).status).toBe(200);

      const disabled = await post(api.admin, `${user.userId}/disable`);
      expect(disabled.status).toBe(200);
      const { user: view } = (await disabled.json()) as { user: { id: string; disabledAt: string | null } };
      expect(view.id).toBe(user.userId);
      expect(Date.parse(view.disabledAt ?? '')).toBeGreaterThan(0);
      const refused = await fetch(`${api.baseUrl}/v1/jobs`, { headers: user.headers });
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as ErrorJson).error.code).toBe('UNAUTHENTICATED');
      expect((await storedRows(id)).jobs).toBe(1);

      // By email, in any case.
      const enabled = await post(api.admin, `${encodeURIComponent(user.email.toUpperCase())}/enable`);
      expect(enabled.status).toBe(200);
      expect(((await enabled.json()) as { user: { disabledAt: string | null } }).user.disabledAt).toBeNull();
      expect((await fetch(`${api.baseUrl}/v1/jobs/${id}`, { headers: user.headers })).status).toBe(200);
    });

    it.each([
      ['a user who is not an administrator', 'user', 'other/disable', 403, 'FORBIDDEN'],
      ['an administrator disabling themselves', 'admin', 'self/disable', 409, 'CONFLICT'],
      ['an unknown user', 'admin', '5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11/disable', 404, 'NOT_FOUND'],
      ['a malformed id', 'admin', 'not-a-user/enable', 404, 'NOT_FOUND'],
    ])('refuses %s', async (_case, who, path, status, code) => {
      const other = await createTestUser(inject('databaseUrl'));
      const by = who === 'admin' ? api.admin : api.user;
      const response = await post(by, path.replace('other', other.userId).replace('self', api.admin.userId));
      expect(response.status).toBe(status);
      expect(((await response.json()) as ErrorJson).error.code).toBe(code);
      expect((await fetch(`${api.baseUrl}/v1/jobs`, { headers: other.headers })).status).toBe(200);
    });
  });

  it('the typed client deletes a job and, confirmed with the email, the account', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const client = new InferQClient({ baseUrl: api.baseUrl, apiKey: user.key, maxRetries: 0 });
    const id = await submit(user);
    await client.deleteJob(id);
    await expect(client.get(id)).rejects.toMatchObject({ code: 'JOB_NOT_FOUND', status: 404 });
    await submit(user);
    const refused = await client.deleteAccount('not-the-email@test.inferq').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InferQError);
    expect(refused).toMatchObject({ code: 'CONFIRMATION_REQUIRED', status: 400 });
    expect(await client.deleteAccount(user.email)).toEqual({ userId: user.userId, email: user.email, jobsDeleted: 1 });
    await expect(client.account()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
