import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { JobStats } from '@inferq/db';
import { createRedisConnection, JobEventPublisher, JobEventSubscriber, WorkerRegistry } from '@inferq/queue';
import { createTestUser, type TestUser } from '@inferq/testing';
import { LiveEvents } from '../src/liveEvents.ts';
import { OperatorService } from '@inferq/jobs';
import { startTestApi, type TestApi } from './apiHarness.ts';

interface Received {
  event: string;
  data: unknown;
}

/** An open GET /v1/events, read as server-sent events (single-line JSON data, as the API sends). */
class TestStream {
  readonly received: Received[] = [];
  comments = 0;
  readonly closed: Promise<void>;
  readonly #controller = new AbortController();
  #waiters: Array<() => void> = [];

  readonly response: Response;

  constructor(response: Response) {
    this.response = response;
    this.closed = this.#read();
  }

  static async open(baseUrl: string, headers: Record<string, string>): Promise<TestStream> {
    const controller = new AbortController();
    const response = await fetch(`${baseUrl}/v1/events`, { headers, signal: controller.signal });
    const stream = new TestStream(response);
    stream.#controller.signal.addEventListener('abort', () => controller.abort());
    return stream;
  }

  async #read(): Promise<void> {
    if (!this.response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = this.response.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n');
          if (lines.every((line) => line.startsWith(':'))) this.comments++;
          const event = lines.find((line) => line.startsWith('event: '))?.slice(7);
          const data = lines.find((line) => line.startsWith('data: '))?.slice(6);
          if (event && data) this.received.push({ event, data: JSON.parse(data) });
          for (const wake of this.#waiters.splice(0)) wake();
        }
      }
    } catch {
      // aborted
    }
  }

  /** Waits until an event matches; the test's own timeout bounds the wait. */
  async next(match: (message: Received) => boolean): Promise<Received> {
    for (;;) {
      const found = this.received.find(match);
      if (found) return found;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  close(): void {
    this.#controller.abort();
  }
}

describe('GET /v1/events: live job events and queue snapshots over server-sent events', () => {
  let api: TestApi;
  let subscriberConnection: Redis;
  let subscriber: JobEventSubscriber;
  let publisher: JobEventPublisher;
  let live: LiveEvents;
  let admin: TestUser;
  let other: TestUser;
  // Events on a channel of their own: no other test's workers publish here.
  const eventsPrefix = `live-${randomUUID()}`;
  const streams: TestStream[] = [];

  async function open(user: { headers: Record<string, string> }): Promise<TestStream> {
    const stream = await TestStream.open(api.baseUrl, user.headers);
    streams.push(stream);
    return stream;
  }

  beforeAll(async () => {
    subscriberConnection = createRedisConnection({ url: inject('redisUrl'), role: 'consumer' });
    subscriber = new JobEventSubscriber({ connection: subscriberConnection, prefix: eventsPrefix });
    publisher = new JobEventPublisher({ connection: new Redis(inject('redisUrl')), prefix: eventsPrefix });
    let operator: OperatorService | undefined = undefined;
    live = new LiveEvents({
      subscriber,
      snapshot: () => operator!.snapshot(),
      snapshotMs: 100,
      heartbeatMs: 100,
      maxStreams: 12,
    });
    api = await startTestApi({ liveEvents: live });
    operator = new OperatorService({
      stats: new JobStats(api.deps.db),
      queue: api.queue,
      workers: new WorkerRegistry({ connection: api.queue.connection, prefix: inject('queuePrefix') }),
      queueCap: 500,
    });
    [admin, other] = await Promise.all([
      createTestUser(inject('databaseUrl'), { role: 'admin' }),
      createTestUser(inject('databaseUrl')),
    ]);
  });

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await api?.close();
    await subscriber?.close();
    subscriberConnection?.disconnect();
  });

  it('refuses a request without a valid key before any event is sent', async () => {
    const response = await fetch(`${api.baseUrl}/v1/events`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  });

  it('sends a user their own job events only, as text/event-stream, after a ready event', async () => {
    const mine = await open(api.user);
    const theirs = await open(other);
    expect(mine.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(mine.response.headers.get('cache-control')).toContain('no-cache');
    await mine.next((message) => message.event === 'ready');
    await theirs.next((message) => message.event === 'ready');

    const otherJob = randomUUID();
    const myJob = randomUUID();
    await publisher.publish({ jobId: otherJob, userId: other.userId, status: 'running' });
    await publisher.publish({ jobId: myJob, userId: api.user.userId, status: 'succeeded', model: 'nsfw' });
    // One channel keeps publish order: once my event is here, the other user's was routed already.
    expect((await mine.next((message) => message.event === 'job')).data).toMatchObject({
      jobId: myJob,
      userId: api.user.userId,
      status: 'succeeded',
    });
    expect((await theirs.next((message) => message.event === 'job')).data).toMatchObject({ jobId: otherJob });
    expect(mine.received.filter((message) => message.event === 'job')).toHaveLength(1);
    expect(theirs.received.filter((message) => message.event === 'job')).toHaveLength(1);
    expect(mine.received.some((message) => message.event === 'queue')).toBe(false);
  });

  it('sends an administrator every job event and the queue snapshot of this API’s queue', async () => {
    const stream = await open(admin);
    const snapshot = await stream.next((message) => message.event === 'queue');
    expect(snapshot.data).toMatchObject({ queue: api.queue.name, cap: 500, inSystem: 0, paused: false, workers: [] });
    const jobId = randomUUID();
    await publisher.publish({ jobId, userId: other.userId, status: 'failed' });
    expect(
      (await stream.next((message) => message.event === 'job' && (message.data as { jobId: string }).jobId === jobId))
        .data,
    ).toMatchObject({ status: 'failed' });
  });

  it('keeps idle streams alive with comment lines', async () => {
    const stream = await open(api.user);
    await stream.next((message) => message.event === 'ready');
    await expect.poll(() => stream.comments, { timeout: 5000 }).toBeGreaterThan(0);
  });

  it('holds many streams on the one Redis subscription: no connection per stream', async () => {
    const channel = `${eventsPrefix}:job-events`;
    const before = live.size;
    const many = await Promise.all(Array.from({ length: 6 }, () => open(api.user)));
    await Promise.all(many.map((stream) => stream.next((message) => message.event === 'ready')));
    expect(live.size).toBe(before + 6);
    const [, subscribers] = (await api.queue.connection.pubsub('NUMSUB', channel)) as [string, number];
    expect(subscribers).toBe(1);
    for (const stream of many) stream.close();
    await expect.poll(() => live.size).toBe(before);
  });

  it('refuses a stream past the per-process limit with 503 TOO_MANY_STREAMS', async () => {
    const extra: TestStream[] = [];
    while (live.size < 12) {
      const stream = await open(api.user);
      await stream.next((message) => message.event === 'ready');
      extra.push(stream);
    }
    const refused = await fetch(`${api.baseUrl}/v1/events`, { headers: api.user.headers });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_STREAMS');
    for (const stream of extra) stream.close();
    await expect.poll(() => live.size).toBeLessThan(12);
  });

  it('ends every stream on shutdown, so the server can close without waiting for them', async () => {
    const stream = await open(api.user);
    await stream.next((message) => message.event === 'ready');
    live.closeAll();
    await stream.closed;
    expect(live.size).toBe(0);
  });
});
