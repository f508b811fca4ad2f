import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { JobEventPublisher, JobEventSubscriber, type JobEvent } from '../src/index.ts';

describe('JobEventPublisher', () => {
  const prefix = `${inject('queuePrefix')}:events-${randomUUID()}`;
  let publishing: Redis;
  let subscribing: Redis;
  let subscriber: JobEventSubscriber;
  let publisher: JobEventPublisher;
  const received: JobEvent[] = [];

  beforeAll(async () => {
    publishing = new Redis(inject('redisUrl'));
    subscribing = new Redis(inject('redisUrl'));
    subscriber = new JobEventSubscriber({ connection: subscribing, prefix });
    await subscriber.start();
    subscriber.onAny((event) => received.push(event));
    publisher = new JobEventPublisher({ connection: publishing, prefix });
  });
  afterAll(async () => {
    await subscriber.close();
    publishing.disconnect();
    subscribing.disconnect();
  });

  /** Socket writes the publishing connection makes while `run` runs. */
  async function socketWrites(run: () => Promise<unknown>): Promise<number> {
    await publishing.ping();
    const stream = (publishing as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
    const write = stream.write;
    let writes = 0;
    stream.write = (...args: unknown[]) => {
      writes++;
      return write.apply(stream, args);
    };
    try {
      await run();
    } finally {
      stream.write = write;
    }
    return writes;
  }

  async function receivedCount(count: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (received.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  it('sends the events of one turn of the event loop in one write, in the order they were published', async () => {
    received.length = 0;
    const ids = Array.from({ length: 20 }, () => randomUUID());
    const writes = await socketWrites(() =>
      Promise.all(
        ids.map((jobId, i) =>
          publisher.publish({ jobId, userId: null, status: i % 2 === 0 ? 'running' : 'succeeded', model: 'nsfw' }),
        ),
      ),
    );
    expect(writes).toBe(1);
    await receivedCount(ids.length);
    expect(received.map((event) => event.jobId)).toEqual(ids);
    expect(received.map((event) => event.status)).toEqual(ids.map((_id, i) => (i % 2 === 0 ? 'running' : 'succeeded')));
  });

  it('sends events of different turns in writes of their own, and resolves each once it is sent', async () => {
    received.length = 0;
    const first = randomUUID();
    const second = randomUUID();
    const writes = await socketWrites(async () => {
      await publisher.publish({ jobId: first, userId: null, status: 'queued', model: 'nsfw' });
      await publisher.publish({ jobId: second, userId: null, status: 'queued', model: 'nsfw' });
    });
    expect(writes).toBe(2);
    await receivedCount(2);
    expect(received.map((event) => event.jobId)).toEqual([first, second]);
  });

  it("carries a final event's row to the job's listeners on the channel only, and none past its size bound", async () => {
    received.length = 0;
    const [small, large] = [randomUUID(), randomUUID()];
    const withRows: Array<[string, unknown]> = [];
    const offs = [small, large].map((id) =>
      subscriber.onJobWithRow(id, (event, job) => withRows.push([event.jobId, job])),
    );
    const alone: unknown[][] = [];
    const offAlone = subscriber.onJob(small, (...args) => alone.push(args));
    const row = { id: small, status: 'succeeded', result: { output: [[0.25, 0.75]] } };
    await publisher.publish({ jobId: small, userId: null, status: 'succeeded', model: 'nsfw' }, row);
    const huge = {
      id: large,
      status: 'succeeded',
      result: { output: [Array.from({ length: 5000 }, (_, i) => i / 3)] },
    };
    await publisher.publish({ jobId: large, userId: null, status: 'succeeded', model: 'nsfw' }, huge);
    await receivedCount(2);
    for (const off of [...offs, offAlone]) off();
    expect(withRows).toEqual([
      [small, row],
      [large, undefined],
    ]);
    // Listeners of onJob, onUser and onAny get the event alone.
    expect(alone.map((args) => args.length)).toEqual([1]);
    expect(received.map((event) => Object.keys(event).sort())).toEqual([
      ['at', 'jobId', 'model', 'status', 'userId'],
      ['at', 'jobId', 'model', 'status', 'userId'],
    ]);
    // The stream keeps the event alone.
    const entries = (await publishing.xrevrange(`${prefix}:job-events:log`, '+', '-', 'COUNT', 2)) as Array<
      [string, string[]]
    >;
    expect(entries.map(([, fields]) => Object.keys(JSON.parse(fields[1]!)).sort())).toEqual([
      ['at', 'jobId', 'model', 'status', 'userId'],
      ['at', 'jobId', 'model', 'status', 'userId'],
    ]);
  });

  it('stamps the events of one publishMany with one time', async () => {
    received.length = 0;
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    await publisher.publishMany(ids.map((jobId) => ({ jobId, userId: null, status: 'queued' as const })));
    await receivedCount(3);
    expect(received.map((event) => event.jobId)).toEqual(ids);
    expect(new Set(received.map((event) => event.at)).size).toBe(1);
  });
});
