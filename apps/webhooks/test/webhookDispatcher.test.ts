import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { AccountStore } from '@inferq/accounts';
import { defaultWebhookRetryPolicy, webhookRetryDelayMs } from '@inferq/core';
import { createDatabase, JobMaintenance, JobQueries, WebhookDeliveryStore, type Database } from '@inferq/db';
import { createRedisConnection, WebhookQueue } from '@inferq/queue';
import { createTestUser, TestJobs } from '@inferq/testing';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook, WebhookSender } from '@inferq/webhooks';
import { WebhookDispatcher } from '../src/webhookDispatcher.ts';

describe('webhook retry schedule', () => {
  it('spans most of a day and never more: 16 tries, delays doubling from 30 s, capped at 3 h', () => {
    const retries = defaultWebhookRetryPolicy.attempts - 1;
    const delays = Array.from({ length: retries }, (_, index) =>
      webhookRetryDelayMs(index + 1, defaultWebhookRetryPolicy, 0),
    );
    expect(delays.slice(0, 3)).toEqual([30_000, 60_000, 120_000]);
    expect(Math.max(...delays)).toBe(3 * 3600_000);
    const total = delays.reduce((sum, delay) => sum + delay, 0);
    expect(total).toBeGreaterThan(20 * 3600_000);
    expect(total).toBeLessThanOrEqual(24 * 3600_000);
    // Jitter only ever shortens a delay, by at most 10%.
    expect(webhookRetryDelayMs(4, defaultWebhookRetryPolicy, 0.999_999)).toBeGreaterThanOrEqual(0.9 * 240_000);
  });
});

describe('WebhookDispatcher sweep', () => {
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  let server: Server;
  let db: Database;
  let dispatcher: WebhookDispatcher;
  let queue: WebhookQueue;
  let sender: WebhookSender;
  const connections: Array<{ disconnect(): void }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
    const redis = createRedisConnection({ url: inject('redisUrl'), role: 'consumer' });
    connections.push(redis);
    const prefix = `${inject('queuePrefix')}-${randomUUID().slice(0, 8)}`;
    const name = `webhooks-${randomUUID()}`;
    queue = new WebhookQueue({ connection: redis, prefix, name });
    // The sweep sees every final job of the shared test database: names never resolve here, so
    // only this test's loopback receiver can be reached.
    const noNames: LookupFunction = (hostname, _options, callback) =>
      callback(Object.assign(new Error(`no lookups in this test: ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
    sender = new WebhookSender({ allowLoopback: true, timeoutMs: 2000, lookup: noNames });
    const accounts = new AccountStore(db, { tiers: [] });
    dispatcher = new WebhookDispatcher({
      connection: redis,
      queue,
      jobs: new JobQueries(db),
      deliveries: new WebhookDeliveryStore(db),
      secretOf: (userId) => accounts.webhookSecret(userId),
      sender,
      logger: pino({ level: 'silent' }),
      prefix,
      queueName: name,
      sweepIntervalMs: 0,
      sweepGraceMs: 0,
    });
    await dispatcher.start();
  });
  afterAll(async () => {
    await dispatcher?.close();
    await queue?.queue.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    sender?.close();
    for (const connection of connections) connection.disconnect();
    await db?.$disconnect();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('delivers a final job whose event was never seen, once, however often it sweeps', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const jobs = new TestJobs(db);
    const id = randomUUID();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    await jobs.create({
      id,
      userId: user.userId,
      modelName: 'nsfw',
      webhookUrl: url,
      input: { data: Buffer.from('x'), format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
    });
    await jobs.fail(id, 'INFERENCE_FAILED', 'The model rejected this input.');

    await Promise.all([dispatcher.sweep(), dispatcher.sweep()]);
    await dispatcher.sweep();
    const deadline = Date.now() + 20_000;
    const deliveries = new WebhookDeliveryStore(db);
    while ((await deliveries.listForJob(id)).length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await dispatcher.sweep(); // delivered now: nothing more to do
    await new Promise((resolve) => setTimeout(resolve, 300));

    const mine = received.filter((request) => JSON.parse(request.body).id === id);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.headers['inferq-event']).toBe('job.failed');
    const secret = (await new AccountStore(db, { tiers: [] }).webhookSecret(user.userId))!;
    expect(verifyWebhook({ secret, body: mine[0]!.body, header: mine[0]!.headers['inferq-signature'] as string })).toBe(
      true,
    );
    // Standard Webhooks: the reference library verifies it with the secret exactly as the API shows it.
    const headers = mine[0]!.headers as Record<string, string>;
    expect(headers['webhook-id']).toBe(headers['inferq-delivery']);
    expect(new Webhook(secret).verify(mine[0]!.body, headers)).toMatchObject({ id, status: 'failed' });
    expect(() => new Webhook(secret).verify(`${mine[0]!.body} `, headers)).toThrow();
    expect(JSON.parse(mine[0]!.body)).toMatchObject({ id, status: 'failed', error: { code: 'INFERENCE_FAILED' } });
    expect((await deliveries.listForJob(id)).map((delivery) => [delivery.attempt, delivery.statusCode])).toEqual([
      [1, 204],
    ]);
  });
  it("delivers a job that expired unstarted (the sweep's own statement) as job.expired", async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const jobs = new TestJobs(db);
    const id = randomUUID();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    await jobs.create({
      id,
      userId: user.userId,
      modelName: 'nsfw',
      webhookUrl: url,
      startBy: new Date(Date.now() - 2 * 3600_000),
      input: { data: Buffer.from('x'), format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
    });
    // As of an hour ago: only rows past their ttl by that much, none of another test's running now.
    const expired = await new JobMaintenance(db).expireUnstarted(new Date(Date.now() - 3600_000), 10_000);
    expect(expired.map((job) => job.id)).toContain(id);

    await dispatcher.sweep();
    const deadline = Date.now() + 20_000;
    while (!received.some((request) => JSON.parse(request.body).id === id) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const mine = received.filter((request) => JSON.parse(request.body).id === id);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.headers['inferq-event']).toBe('job.expired');
    expect(JSON.parse(mine[0]!.body)).toMatchObject({
      id,
      status: 'expired',
      attempts: 0,
      startedAt: null,
      error: { code: 'EXPIRED' },
    });
  });

  it.each<[string, Array<'started' | 'completed'> | undefined, boolean, boolean]>([
    ['started and completed', ['started', 'completed'], true, true],
    ['started only', ['started'], true, false],
    ['nothing said (completed)', undefined, false, true],
  ])('delivers the events the webhook asked for: %s', async (_name, webhookEvents, started, completed) => {
    const user = await createTestUser(inject('databaseUrl'));
    const jobs = new TestJobs(db);
    const id = randomUUID();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    await jobs.create({
      id,
      userId: user.userId,
      modelName: 'nsfw',
      webhookUrl: url,
      webhookEvents,
      input: { data: Buffer.from('x'), format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
    });
    await jobs.start(id, 'worker-test');
    await queue.enqueue(id, 'started');
    await jobs.fail(id, 'INFERENCE_FAILED', 'The model rejected this input.');
    await dispatcher.sweep();
    const expected = [completed && 'completed', started && 'started'].filter(Boolean);
    const deliveries = new WebhookDeliveryStore(db);
    const deadline = Date.now() + 20_000;
    while ((await deliveries.listForJob(id)).length < expected.length && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    // A delivery that should not happen would have happened by now, beside the ones that did.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await deliveries.listForJob(id)).map((delivery) => delivery.event).sort()).toEqual(expected);
    const events = received
      .filter((request) => JSON.parse(request.body).id === id)
      .map((request) => request.headers['inferq-event']);
    expect(events.sort()).toEqual([completed && 'job.failed', started && 'job.started'].filter(Boolean));
  });

  it('records a refused address as just "refused", never why, the resolver\'s words or the address', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const jobs = new TestJobs(db);
    const id = randomUUID();
    // An old row, stored before the submit check refused IPv4-compatible IPv6 (::/96).
    const url = `https://[::127.0.0.1]:${(server.address() as AddressInfo).port}/hook`;
    await jobs.create({
      id,
      userId: user.userId,
      modelName: 'nsfw',
      webhookUrl: url,
      input: { data: Buffer.from('x'), format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
    });
    await jobs.fail(id, 'INFERENCE_FAILED', 'The model rejected this input.');
    const before = received.length;
    await dispatcher.sweep();
    const deliveries = new WebhookDeliveryStore(db);
    const deadline = Date.now() + 20_000;
    while ((await deliveries.listForJob(id)).length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(
      (await deliveries.listForJob(id)).map((delivery) => [delivery.attempt, delivery.statusCode, delivery.error]),
    ).toEqual([[1, null, 'refused']]);
    expect(received.length).toBe(before);
  });
});
