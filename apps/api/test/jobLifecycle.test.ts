import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { tiers } from '@inferq/accounts';
import { createTestUser, type TestUser } from '@inferq/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

async function submit(user: TestUser, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${api.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: { ...user.headers, ...headers },
    body: imageForm(await validJpeg(64, 64)),
  });
}

async function submitId(user: TestUser): Promise<string> {
  const response = await submit(user);
  expect(response.status).toBe(202);
  return (await response.json()).id;
}

function cancel(user: TestUser, id: string): Promise<Response> {
  return fetch(`${api.baseUrl}/v1/jobs/${id}/cancel`, { method: 'POST', headers: user.headers });
}

async function list(
  user: TestUser,
  query = '',
): Promise<{
  status: number;
  body: { data: Array<{ id: string; status: string }>; nextCursor: string | null; error?: { code: string } };
}> {
  const response = await fetch(`${api.baseUrl}/v1/jobs${query}`, { headers: user.headers });
  return { status: response.status, body: await response.json() };
}

describe('the job view', () => {
  it.each(['free', 'pro'])("says when a %s job expires: its tier's retention after the submit", async (tierName) => {
    const user = await createTestUser(inject('databaseUrl'), { tier: tierName });
    const submitted = await (await submit(user)).json();
    const job = await (await fetch(`${api.baseUrl}/v1/jobs/${submitted.id}`, { headers: user.headers })).json();
    expect(job.expiresAt).toBe(submitted.expiresAt);
    const days = (Date.parse(job.expiresAt) - Date.parse(job.createdAt)) / (24 * 3600 * 1000);
    // The retention starts when the submit is admitted, a moment before the row's createdAt.
    expect(days).toBeCloseTo(tiers[tierName as keyof typeof tiers].retentionDays, 3);
  });
});

describe('GET /v1/jobs', () => {
  it("lists only the caller's jobs, newest first, page by page with an opaque cursor", async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await submitId(user));
    await submitId(await createTestUser(inject('databaseUrl')));

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(user, `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((job) => job.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('filters by status', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const [first, second, third] = [await submitId(user), await submitId(user), await submitId(user)];
    expect((await cancel(user, second!)).status).toBe(200);
    await api.jobs.start(third!, 'test-worker');

    expect((await list(user, '?status=canceled')).body.data.map((job) => job.id)).toEqual([second]);
    expect((await list(user, '?status=queued,running')).body.data.map((job) => job.id)).toEqual([third, first]);
  });

  it.each([
    ['an unknown status', '?status=done'],
    ['a garbage cursor', '?cursor=not-a-cursor'],
    [
      'a cursor with a bad id',
      `?cursor=${Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', 'x'])).toString('base64url')}`,
    ],
    ['a zero limit', '?limit=0'],
    ['a limit over 100', '?limit=101'],
    ['a fractional limit', '?limit=1.5'],
    ['a limit in exponent notation', '?limit=1e2'],
    ['a hexadecimal limit', '?limit=0x10'],
    ['a limit with a sign', '?limit=%2B5'],
    ['a limit with spaces', '?limit=%205'],
    ['an empty limit', '?limit='],
    ['a limit named constructor', '?limit=constructor'],
  ])('answers 400 VALIDATION_FAILED for %s', async (_name, query) => {
    const page = await list(api.user, query);
    expect(page.status).toBe(400);
    expect(page.body.error?.code).toBe('VALIDATION_FAILED');
  });
});

describe('POST /v1/jobs/:id/cancel', () => {
  it('cancels a queued job and takes it out of the queue', async () => {
    const id = await submitId(api.user);
    expect(await api.queue.queueFor('nsfw').getJob(id)).toBeTruthy();
    const response = await cancel(api.user, id);
    expect(response.status).toBe(200);
    expect((await response.json()).status).toBe('canceled');
    expect(await api.queue.queueFor('nsfw').getJob(id)).toBeUndefined();
    const row = await api.deps.db.job.findUniqueOrThrow({ where: { id } });
    expect(row.status).toBe('canceled');
    expect(row.canceledAt).not.toBeNull();
    // A worker that had already dequeued it does not start it.
    expect(await api.jobs.start(id, 'test-worker')).toBeNull();
  });

  it('cancels a running job and discards its result when inference ends', async () => {
    const id = await submitId(api.user);
    expect(await api.jobs.start(id, 'test-worker')).not.toBeNull();
    const response = await cancel(api.user, id);
    expect(response.status).toBe(200);
    expect((await response.json()).status).toBe('canceled');

    const written = await api.jobs.completeMany([
      { id, workerId: 'test-worker', inferenceMs: 5, result: { modelName: 'nsfw', modelVersion: '1', output: [[1]] } },
    ]);
    expect(written).toEqual([]);
    expect(await api.jobs.fail(id, 'INFERENCE_FAILED', 'late failure')).toBe(false);
    const row = await api.deps.db.job.findUniqueOrThrow({ where: { id }, include: { result: true } });
    expect(row.status).toBe('canceled');
    expect(row.result).toBeNull();
  });

  it.each(['succeeded', 'failed', 'canceled'] as const)('answers 409 JOB_FINISHED for a %s job', async (status) => {
    const id = await submitId(api.user);
    await api.jobs.start(id, 'test-worker');
    if (status === 'succeeded') {
      await api.jobs.completeMany([
        {
          id,
          workerId: 'test-worker',
          inferenceMs: 5,
          result: { modelName: 'nsfw', modelVersion: '1', output: [[1]] },
        },
      ]);
    } else if (status === 'failed') {
      await api.jobs.fail(id, 'INFERENCE_FAILED', 'test');
    } else {
      await api.jobs.cancel(id);
    }
    const response = await cancel(api.user, id);
    expect(response.status).toBe(409);
    const body = await response.json();
    expect(body.error.code).toBe('JOB_FINISHED');
    expect(body.error.details).toEqual({ status });
  });

  it("answers 404 JOB_NOT_FOUND for another user's job and leaves it alone", async () => {
    const id = await submitId(api.user);
    const other = await createTestUser(inject('databaseUrl'));
    const response = await cancel(other, id);
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('JOB_NOT_FOUND');
    expect((await api.deps.db.job.findUniqueOrThrow({ where: { id } })).status).toBe('queued');
    expect((await cancel(other, 'not-a-uuid')).status).toBe(404);
  });
});

describe('Idempotency-Key', () => {
  it('answers a repeated submit with the original job and 200, once', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const first = await submit(user, { 'idempotency-key': 'order-42' });
    expect(first.status).toBe(202);
    const original = await first.json();
    const again = await submit(user, { 'idempotency-key': 'order-42' });
    expect(again.status).toBe(200);
    expect((await again.json()).id).toBe(original.id);
    expect(again.headers.get('location')).toBe(`/v1/jobs/${original.id}`);
    expect(await api.deps.db.job.count({ where: { userId: user.userId } })).toBe(1);
  });

  it('keeps concurrent repeats to one job', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => submit(user, { 'idempotency-key': 'burst-1' })),
    );
    const ids = new Set(await Promise.all(responses.map(async (response) => (await response.json()).id)));
    expect(ids.size).toBe(1);
    expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 200, 200, 200, 202]);
    expect(await api.deps.db.job.count({ where: { userId: user.userId } })).toBe(1);
  });

  it('scopes keys to the user', async () => {
    const [a, b] = [await createTestUser(inject('databaseUrl')), await createTestUser(inject('databaseUrl'))];
    const first = await (await submit(a, { 'idempotency-key': 'shared' })).json();
    const second = await submit(b, { 'idempotency-key': 'shared' });
    expect(second.status).toBe(202);
    expect((await second.json()).id).not.toBe(first.id);
  });

  it('creates a new job once the key is older than 24 h', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const first = await (await submit(user, { 'idempotency-key': 'daily' })).json();
    await api.deps.db.job.update({
      where: { id: first.id },
      data: { createdAt: new Date(Date.now() - 25 * 3600 * 1000) },
    });
    const second = await submit(user, { 'idempotency-key': 'daily' });
    expect(second.status).toBe(202);
    const created = await second.json();
    expect(created.id).not.toBe(first.id);
    expect((await submit(user, { 'idempotency-key': 'daily' })).status).toBe(200);
  });

  it.each<[string, () => Promise<FormData>, string]>([
    ['another image', async () => imageForm(await validJpeg(64, 65)), 'image'],
    ['another model', async () => imageForm(await validJpeg(64, 64), { model: 'other-model' }), 'model'],
    ['another model version', async () => imageForm(await validJpeg(64, 64), { version: '9.9.9' }), 'model version'],
  ])(
    'answers 422 IDEMPOTENCY_KEY_REUSED, not the earlier job, for the key sent again with %s',
    async (_name, form, field) => {
      const user = await createTestUser(inject('databaseUrl'));
      const original = await (await submit(user, { 'idempotency-key': 'order-7' })).json();
      const response = await fetch(`${api.baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: { ...user.headers, 'idempotency-key': 'order-7' },
        body: await form(),
      });
      expect(response.status).toBe(422);
      expect((await response.json()).error).toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
        details: { jobId: original.id, field },
      });
      expect(await api.deps.db.job.count({ where: { userId: user.userId } })).toBe(1);
      // The same request still replays.
      expect((await submit(user, { 'idempotency-key': 'order-7' })).status).toBe(200);
    },
  );

  it('replays an upload with bytes after the image: the stored image is the same', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const image = await validJpeg(64, 64);
    const body = () => imageForm(Buffer.concat([image, Buffer.from('trailing bytes the API does not store')]));
    const first = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...user.headers, 'idempotency-key': 'tail' },
      body: body(),
    });
    expect(first.status).toBe(202);
    const again = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...user.headers, 'idempotency-key': 'tail' },
      body: body(),
    });
    expect(again.status).toBe(200);
    expect((await again.json()).id).toBe((await first.json()).id);
  });

  it.each([
    ['too long', 'k'.repeat(256)],
    ['with a space', 'two words'],
  ])('answers 400 VALIDATION_FAILED for a key %s', async (_name, key) => {
    const response = await submit(api.user, { 'idempotency-key': key });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('VALIDATION_FAILED');
  });
});
