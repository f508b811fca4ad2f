import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sharedTestApi } from './apiHarness.ts';

const api = sharedTestApi();

async function history(query: string) {
  const response = await fetch(`${api.baseUrl}/v1/admin/history?${query}`, { headers: api.admin.headers });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

describe('GET /v1/admin/history', () => {
  it('answers an hour by the minute, a day by 5 minutes and a week by the hour, from the rows written', async () => {
    const model = `hist-${randomUUID().slice(0, 8)}`;
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const rows = [
      { at: minute - 2 * 60_000, submitted: 4, succeeded: 3, failed: 1, p95: 120, oldest: 5_000, workers: 2 },
      { at: minute - 3 * 60_000, submitted: 6, succeeded: 6, failed: 0, p95: 80, oldest: 0, workers: 1 },
      { at: minute - 3 * 3600_000, submitted: 1, succeeded: 0, failed: 1, p95: 10, oldest: 60_000, workers: 0 },
      { at: minute - 3 * 24 * 3600_000, submitted: 9, succeeded: 9, failed: 0, p95: 10, oldest: 0, workers: 1 },
    ];
    for (const row of rows) {
      await api.deps.db.modelHistory.create({
        data: {
          modelName: model,
          minute: new Date(row.at),
          submitted: row.submitted,
          succeeded: row.succeeded,
          failed: row.failed,
          queueWaitP50Ms: 1,
          queueWaitP95Ms: row.p95,
          oldestWaitingMs: row.oldest,
          workers: row.workers,
        },
      });
    }
    const hour = await history(`range=hour&model=${model}`);
    expect(hour.status).toBe(200);
    expect(hour.body.bucketSeconds).toBe(60);
    expect(hour.body.points.map((point: any) => [point.submitted, point.queueWaitP95Ms, point.workers])).toEqual([
      [6, 80, 1],
      [4, 120, 2],
    ]);
    const day = await history(`range=day&model=${model}`);
    expect(day.body.bucketSeconds).toBe(300);
    expect(day.body.points.reduce((sum: number, point: any) => sum + point.submitted, 0)).toBe(11);
    expect(Math.max(...day.body.points.map((point: any) => point.oldestWaitingMs))).toBe(60_000);
    const week = await history(`range=week&model=${model}`);
    expect(week.body.bucketSeconds).toBe(3600);
    expect(week.body.points.reduce((sum: number, point: any) => sum + point.submitted, 0)).toBe(20);
  });

  it('refuses another range, and anyone but an administrator', async () => {
    expect((await history('range=year')).body.error.code).toBe('VALIDATION_FAILED');
    const user = await fetch(`${api.baseUrl}/v1/admin/history`, { headers: api.user.headers });
    expect(user.status).toBe(403);
  });
});
