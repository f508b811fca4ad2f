import { createServer, connect, type Server, type Socket } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferQClient, type JobEventMessage } from '@inferq/client';
import type { PlatformProcess } from '@inferq/testing';
import {
  createTestUser,
  platformEnv,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  waitForFinal,
  type Caller,
} from './platform.ts';

/**
 * A TCP proxy in front of the API whose connections the test can cut (a dropped network, not a
 * clean close), and which meanwhile refuses new ones, so events happen while the client is away.
 */
class CuttableProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #refusing = false;
  /** Connections accepted (and passed on) so far. */
  accepted = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(target: URL): Promise<CuttableProxy> {
    const proxy: CuttableProxy = new CuttableProxy(
      createServer((client) => {
        if (proxy.#refusing) return void client.destroy();
        proxy.accepted++;
        const upstream = connect(Number(target.port), target.hostname);
        for (const socket of [client, upstream]) {
          proxy.#sockets.add(socket);
          socket.on('close', () => proxy.#sockets.delete(socket));
          socket.on('error', () => {});
        }
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream).pipe(client);
      }),
    );
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    const address = this.#server.address();
    if (!address || typeof address === 'string') throw new Error('proxy not listening');
    return `http://127.0.0.1:${address.port}`;
  }

  /** Destroys every open connection and refuses new ones until `heal()`. */
  cut(): void {
    this.#refusing = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  heal(): void {
    this.#refusing = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The statuses each job went through, as the stream told them, in order. */
function statusesByJob(messages: JobEventMessage[]): Map<string, string[]> {
  const byJob = new Map<string, string[]>();
  for (const { event } of messages) byJob.set(event.jobId, [...(byJob.get(event.jobId) ?? []), event.status]);
  return byJob;
}

describe('event streams that resume after a dropped connection', () => {
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let proxy: CuttableProxy;
  let caller: Caller;
  let client: InferQClient;
  let admin: Caller['user'];
  let digit: Buffer;
  /** The id of the last event the first test received. */
  let lastIdBefore: string;

  beforeAll(async () => {
    const env = platformEnv({ extra: { DEFAULT_MODEL: 'mnist' } });
    const started = await Promise.all([
      startApiProcess(env),
      startWorkerProcess({ ...env, workerId: 'events-resume', extra: { ...env.extra, WORKER_MODELS: 'mnist' } }),
    ]);
    api = started[0].process;
    worker = started[1].process;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl) };
    admin = await createTestUser(env.databaseUrl, { role: 'admin' });
    proxy = await CuttableProxy.start(new URL(started[0].baseUrl));
    // Through the proxy, reconnecting fast: the test's drops are short.
    client = new InferQClient({ baseUrl: proxy.url, apiKey: caller.user.key });
    digit = await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png()
      .toBuffer();
  }, 180_000);

  afterAll(async () => {
    await proxy?.close();
    await stopAll([api, worker]);
  });

  it('GET /v1/events: the typed client reconnects with Last-Event-ID and gets every event sent while it was away, once, in order', async () => {
    const controller = new AbortController();
    const received: JobEventMessage[] = [];
    const reading = (async () => {
      for await (const message of client.events({ signal: controller.signal, maxReconnectDelayMs: 200 }))
        received.push(message);
    })();
    try {
      // Connected once the first job's events come through.
      const before = await submit(caller, digit);
      await until(
        () => statusesByJob(received).get(before.id)?.at(-1) === 'succeeded',
        30_000,
        'events of the first job',
      );
      expect(proxy.accepted).toBe(1);

      // Dropped mid-stream; while it is down, jobs run and finish.
      proxy.cut();
      const away = [await submit(caller, digit), await submit(caller, digit), await submit(caller, digit)];
      await Promise.all(away.map((job) => waitForFinal(caller, job.id, 30_000)));
      const whileAway = received.length;
      proxy.heal();

      await until(
        () => away.every((job) => statusesByJob(received).get(job.id)?.at(-1) === 'succeeded'),
        30_000,
        'events of the jobs that ran while away',
      );
      expect(whileAway).toBe(3); // nothing came through the cut connection
      expect(proxy.accepted).toBeGreaterThanOrEqual(2);

      // And live again after the replay.
      const after = await submit(caller, digit);
      await until(
        () => statusesByJob(received).get(after.id)?.at(-1) === 'succeeded',
        30_000,
        'events of a job after the resume',
      );

      const byJob = statusesByJob(received);
      for (const job of [before, ...away, after]) expect(byJob.get(job.id)).toEqual(['queued', 'running', 'succeeded']);
      // Every event has an id, each once, in increasing order.
      const ids = received.map((message) => message.id!);
      expect(ids.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
      const order = (a: string, b: string) => {
        const [aMs, aSeq] = a.split('-').map(BigInt) as [bigint, bigint];
        const [bMs, bSeq] = b.split('-').map(BigInt) as [bigint, bigint];
        return aMs === bMs ? (aSeq < bSeq ? -1 : aSeq > bSeq ? 1 : 0) : aMs < bMs ? -1 : 1;
      };
      expect([...ids].sort(order)).toEqual(ids);
      expect(new Set(ids).size).toBe(ids.length);
      lastIdBefore = ids.at(-1)!;
    } finally {
      controller.abort();
      await reading;
    }
  });

  it('GET /v1/jobs/:id/events: one job, dropped while it waits and resumed after it ran, gets each of its events and ends', async () => {
    // Paused, the job waits queued while the stream is open.
    expect(
      (await fetch(`${caller.baseUrl}/v1/admin/queue/pause`, { method: 'POST', headers: admin.headers })).status,
    ).toBe(200);
    const job = await submit(caller, digit);
    const received: JobEventMessage[] = [];
    const connectionsBefore = proxy.accepted;
    // From an id before the submit: the replay brings its `queued`.
    const reading = (async () => {
      for await (const message of client.jobEvents(job.id, { lastEventId: lastIdBefore, maxReconnectDelayMs: 200 }))
        received.push(message);
    })();
    await until(() => received.length === 1, 30_000, 'the replayed queued event');
    proxy.cut();
    expect(
      (await fetch(`${caller.baseUrl}/v1/admin/queue/resume`, { method: 'POST', headers: admin.headers })).status,
    ).toBe(200);
    expect((await waitForFinal(caller, job.id, 30_000)).status).toBe('succeeded');
    proxy.heal();
    // The iteration ends by itself once the final event is through.
    await reading;
    expect(received.map((message) => [message.event.jobId, message.event.status])).toEqual([
      [job.id, 'queued'],
      [job.id, 'running'],
      [job.id, 'succeeded'],
    ]);
    expect(proxy.accepted - connectionsBefore).toBe(2);
  });
});
