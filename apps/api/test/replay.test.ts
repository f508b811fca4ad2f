import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { webhookJobId } from '@inferq/core';
import { drawingImage } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { imageForm, sharedTestApi } from './apiHarness.ts';

const api = sharedTestApi();

async function call(
  user: TestUser,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: { ...user.headers, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function submit(user: TestUser, metadata: Record<string, string>): Promise<string> {
  const response = await fetch(`${api.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: user.headers,
    body: imageForm(await drawingImage(64, 64), { metadata: JSON.stringify(metadata) }, 'a.png', 'image/png'),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** Moves a job to failed (or another final status) as the worker would, finished `agoMs` ago. */
async function finish(
  id: string,
  status: 'failed' | 'succeeded',
  agoMs = 1000,
  errorCode = 'INFERENCE_FAILED',
): Promise<void> {
  await api.deps.db.job.update({
    where: { id },
    data: {
      status,
      errorCode: status === 'failed' ? errorCode : null,
      errorMessage: 'x',
      finishedAt: new Date(Date.now() - agoMs),
    },
  });
  // The worker's BullMQ entry would be failed or completed: here it is taken away.
  const queue = api.queue.queueFor('nsfw');
  await (await queue.getJob(id))?.remove();
}

describe('POST /v1/admin/jobs/retry', () => {
  it('previews the failed jobs of a selection, retries them once, and is idempotent', async () => {
    const owner = await createTestUser(inject('databaseUrl'));
    const tag = randomUUID();
    const [a, b, c, d] = [
      await submit(owner, { run: tag }),
      await submit(owner, { run: tag }),
      await submit(owner, { run: tag }),
      await submit(owner, { run: 'other' }),
    ];
    await finish(a!, 'failed', 5000, 'TIMEOUT');
    await finish(b!, 'failed', 5000, 'INFERENCE_FAILED');
    await finish(c!, 'succeeded');
    await finish(d!, 'failed');
    const filter = { metadata: { run: tag }, user: owner.userId };

    const preview = await call(api.admin, 'POST', '/v1/admin/jobs/retry', { filter, dryRun: true });
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ matched: 2, retried: 0, dryRun: true });
    const narrower = await call(api.admin, 'POST', '/v1/admin/jobs/retry', {
      filter: { ...filter, errorCode: 'TIMEOUT' },
      dryRun: true,
    });
    expect(narrower.body.matched).toBe(1);

    // Without the preview's asOf the operation is not fixed: refused.
    expect((await call(api.admin, 'POST', '/v1/admin/jobs/retry', { filter })).body.error.code).toBe(
      'VALIDATION_FAILED',
    );

    const run = await call(api.admin, 'POST', '/v1/admin/jobs/retry', { filter, asOf: preview.body.asOf });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({
      operationId: preview.body.operationId,
      matched: 2,
      retried: 2,
      remaining: 0,
      dryRun: false,
    });
    const rows = await api.deps.db.job.findMany({ where: { id: { in: [a!, b!, c!, d!] } } });
    const statusOf = (id: string) => rows.find((row) => row.id === id)?.status;
    expect([statusOf(a!), statusOf(b!), statusOf(c!), statusOf(d!)]).toEqual([
      'queued',
      'queued',
      'succeeded',
      'failed',
    ]);
    expect(await api.queue.queueFor('nsfw').getJob(a!)).toBeTruthy();

    // One of them fails again: the same request does not retry it a second time.
    await finish(a!, 'failed', 0);
    const again = await call(api.admin, 'POST', '/v1/admin/jobs/retry', { filter, asOf: preview.body.asOf });
    expect(again.body).toMatchObject({ operationId: preview.body.operationId, matched: 0, retried: 0 });
    expect((await api.deps.db.job.findUnique({ where: { id: a! } }))?.status).toBe('failed');
  });

  it.each([
    [{ filter: { q: 'ab' }, dryRun: true }, 'VALIDATION_FAILED'],
    [{ filter: { user: 'nobody' }, dryRun: true }, 'VALIDATION_FAILED'],
    [{ filter: { unknown: 'x' }, dryRun: true }, 'VALIDATION_FAILED'],
    [{ filter: { metadata: { ['k'.repeat(41)]: 'v' } }, dryRun: true }, 'INVALID_METADATA'],
    [{ asOf: 'yesterday' }, 'VALIDATION_FAILED'],
  ])('refuses %j', async (body, code) => {
    const answer = await call(api.admin, 'POST', '/v1/admin/jobs/retry', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
  });

  it('is for administrators only', async () => {
    expect((await call(api.user, 'POST', '/v1/admin/jobs/retry', { dryRun: true })).status).toBe(403);
  });
});

describe('webhook redelivery', () => {
  const webhookQueue = () => api.deps.webhooks!;

  async function jobWithWebhook(attempts: Array<{ statusCode: number | null; agoMs: number }>): Promise<string> {
    const id = await submit(api.user, {});
    await api.deps.db.job.update({ where: { id }, data: { webhookUrl: 'https://example.com/hook' } });
    await finish(id, 'succeeded');
    const deliveryId = randomUUID();
    for (const [index, attempt] of attempts.entries()) {
      await api.deps.db.webhookDelivery.create({
        data: {
          jobId: id,
          deliveryId,
          event: 'completed',
          attempt: index + 1,
          url: 'https://example.com/hook',
          statusCode: attempt.statusCode,
          error: attempt.statusCode === 200 ? null : 'refused',
          createdAt: new Date(Date.now() - attempt.agoMs),
        },
      });
    }
    return id;
  }

  async function redeliveriesOf(id: string) {
    const jobs = await webhookQueue().queue.getJobs(['waiting', 'delayed', 'prioritized', 'active']);
    return jobs.filter((job) => job.data.jobId === id && job.id?.startsWith(`${webhookJobId(id)}-redeliver-`));
  }

  it('redelivers one job, once per Idempotency-Key, as a new delivery', async () => {
    const id = await jobWithWebhook([{ statusCode: 500, agoMs: 60_000 }]);
    const first = await call(api.admin, 'POST', `/v1/admin/jobs/${id}/redeliver`, undefined, {
      'idempotency-key': 'k1',
    });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ matched: 1, enqueued: 1 });
    const repeat = await call(api.admin, 'POST', `/v1/admin/jobs/${id}/redeliver`, undefined, {
      'idempotency-key': 'k1',
    });
    expect(repeat.body).toMatchObject({ operationId: first.body.operationId, enqueued: 0 });
    const queued = await redeliveriesOf(id);
    expect(queued).toHaveLength(1);
    // A new delivery: its id is not the first delivery's.
    const log = await call(api.admin, 'GET', `/v1/admin/jobs/${id}/deliveries`);
    expect(log.body.data).toHaveLength(1);
    expect(queued[0]!.data.deliveryId).not.toBe(log.body.data[0].id);
    for (const job of queued) await job.remove();
  });

  it.each([
    ['a job without a webhook', async () => submit(api.user, {}), 409, 'CONFLICT'],
    ['an unknown job', async () => randomUUID(), 404, 'JOB_NOT_FOUND'],
  ])('refuses %s', async (_name, make, status, code) => {
    const answer = await call(api.admin, 'POST', `/v1/admin/jobs/${await make()}/redeliver`);
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(code);
  });

  it('redelivers every delivery that failed in a time range and never succeeded, once per range', async () => {
    const failedInRange = await jobWithWebhook([
      { statusCode: 503, agoMs: 30 * 60_000 },
      { statusCode: null, agoMs: 20 * 60_000 },
    ]);
    const succeededLater = await jobWithWebhook([
      { statusCode: 500, agoMs: 30 * 60_000 },
      { statusCode: 200, agoMs: 5 * 60_000 },
    ]);
    const failedBefore = await jobWithWebhook([{ statusCode: 500, agoMs: 3 * 3600_000 }]);
    const range = {
      from: new Date(Date.now() - 3600_000).toISOString(),
      to: new Date(Date.now() - 10 * 60_000).toISOString(),
    };

    const preview = await call(api.admin, 'POST', '/v1/admin/webhooks/redeliver', { ...range, dryRun: true });
    expect(preview.status).toBe(200);
    // Other tests' deliveries may fall in the range too: this one's jobs are counted exactly as below.
    const run = await call(api.admin, 'POST', '/v1/admin/webhooks/redeliver', range);
    expect(run.status).toBe(202);
    expect(run.body.matched).toBe(preview.body.matched);
    expect(await redeliveriesOf(failedInRange)).toHaveLength(1);
    expect(await redeliveriesOf(succeededLater)).toHaveLength(0);
    expect(await redeliveriesOf(failedBefore)).toHaveLength(0);
    const again = await call(api.admin, 'POST', '/v1/admin/webhooks/redeliver', range);
    expect(again.body).toMatchObject({ operationId: run.body.operationId, enqueued: 0 });
    expect(await redeliveriesOf(failedInRange)).toHaveLength(1);
    for (const job of await redeliveriesOf(failedInRange)) await job.remove();

    const backwards = await call(api.admin, 'POST', '/v1/admin/webhooks/redeliver', { from: range.to, to: range.from });
    expect(backwards.body.error.code).toBe('VALIDATION_FAILED');
  });
});
