import { afterAll, afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import sharp from 'sharp';
import { drawingImage } from '@inferq/images/testing';
import type { PlatformProcess, TestUser } from '@inferq/testing';
import {
  createTestUser,
  platformEnv,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  type Caller,
} from './platform.ts';

const started: PlatformProcess[] = [];
afterEach(async () => {
  await stopAll(started.splice(0));
});

describe('rate limits across API instances', () => {
  it('holds one per-user limit across two API processes sharing Redis', async () => {
    // Both processes share QUEUE_PREFIX, and so the rate-limit counters under it.
    const env = platformEnv({
      extra: {
        TIER_OVERRIDES: JSON.stringify({ free: { requestsPerWindow: 4, submitsPerWindow: 2, submitBurst: 0 } }),
      },
    });
    const [first, second] = await Promise.all([startApiProcess(env), startApiProcess(env)]);
    started.push(first.process, second.process);
    const user = await createTestUser(env.databaseUrl);
    const bases = [first.baseUrl, second.baseUrl];

    const answers: Array<{ status: number; remaining: string | null }> = [];
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${bases[i % 2]}/v1/jobs`, { headers: user.headers });
      answers.push({ status: response.status, remaining: response.headers.get('ratelimit-remaining') });
      if (response.status === 429) {
        expect((await response.json()).error.code).toBe('RATE_LIMITED');
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
    }
    expect(answers).toEqual([
      { status: 200, remaining: '3' },
      { status: 200, remaining: '2' },
      { status: 200, remaining: '1' },
      { status: 200, remaining: '0' },
      { status: 429, remaining: '0' },
      { status: 429, remaining: '0' },
    ]);

    const image = await sharp(await drawingImage(64, 64))
      .jpeg()
      .toBuffer();
    const submitted: number[] = [];
    for (let i = 0; i < 3; i++) {
      const form = new FormData();
      form.set('image', new Blob([new Uint8Array(image)]), 'a.jpg');
      submitted.push(
        (await fetch(`${bases[i % 2]}/v1/jobs`, { method: 'POST', headers: user.headers, body: form })).status,
      );
    }
    expect(submitted).toEqual([202, 202, 429]);
  });
});

describe('priority and fairness with one worker', () => {
  const env = platformEnv({ extra: { WORKER_CONCURRENCY: '1', MAX_BATCH_SIZE: '1', MAX_BATCH_DELAY_MS: '0' } });
  const db = new pg.Client({ connectionString: env.databaseUrl });
  afterAll(async () => {
    await db.end().catch(() => {});
  });

  it("runs a pro job before the free jobs queued ahead of it, and a second free user's job after at most one of the first user's", async () => {
    const api = await startApiProcess(env);
    started.push(api.process);
    await db.connect();
    const [floodUser, proUser, secondUser] = await Promise.all([
      createTestUser(env.databaseUrl),
      createTestUser(env.databaseUrl, { tier: 'pro' }),
      createTestUser(env.databaseUrl),
    ]);
    const as = (user: TestUser): Caller => ({ baseUrl: api.baseUrl, user });
    const image = await sharp(await drawingImage(96, 96))
      .jpeg()
      .toBuffer();

    // User A floods 50 free jobs; then a pro user and a second free user submit one each. All of
    // them are queued before the single worker (one job at a time) starts taking jobs.
    const flood: string[] = [];
    for (let i = 0; i < 50; i++) flood.push((await submit(as(floodUser), image)).id);
    const pro = (await submit(as(proUser), image)).id;
    const second = (await submit(as(secondUser), image)).id;

    const worker = await startWorkerProcess({ ...env, workerId: 'fairness-1' });
    started.push(worker.process);

    const ids = [...flood, pro, second];
    const deadline = Date.now() + 150_000;
    let rows: Array<{ id: string; status: string; started_at: Date; finished_at: Date }>;
    for (;;) {
      rows = (await db.query('SELECT id, status, started_at, finished_at FROM jobs WHERE id = ANY($1::uuid[])', [ids]))
        .rows;
      if (rows.every((row) => row.status === 'succeeded')) break;
      if (Date.now() > deadline)
        throw new Error(`not finished: ${rows.filter((row) => row.status !== 'succeeded').length} jobs`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    const floodSet = new Set(flood);
    const order = [...rows].sort((a, b) => a.started_at.getTime() - b.started_at.getTime()).map((row) => row.id);
    const floodStartedBefore = (id: string) =>
      order.slice(0, order.indexOf(id)).filter((other) => floodSet.has(other)).length;
    const byId = new Map(rows.map((row) => [row.id, row]));
    const floodFinishedAfter = (id: string) =>
      flood.filter((other) => byId.get(other)!.finished_at > byId.get(id)!.finished_at).length;

    // Pro (priority 1) is ahead of every free job (priority 10 and up).
    expect(floodStartedBefore(pro)).toBe(0);
    expect(floodFinishedAfter(pro)).toBe(50);
    // The second free user's first job (priority 10) waits for at most one of A's: A's first job,
    // also priority 10 and submitted earlier. Plain FIFO would have put it behind all 50.
    expect(floodStartedBefore(second)).toBeLessThanOrEqual(1);
    expect(floodFinishedAfter(second)).toBeGreaterThanOrEqual(49);
    // A's own jobs still run in submission order.
    expect(order.filter((id) => floodSet.has(id))).toEqual(flood);
  }, 240_000);
});
