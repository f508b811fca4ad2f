import { describe, expect, it } from 'vitest';
import type { JobStatus, JobView } from '@inferq/core';
import { patchPage, withEventStatus } from './jobEvents.ts';

function job(id: string, status: JobStatus): JobView {
  return {
    id,
    status,
    model: { name: 'nsfw', version: null, requestedVersion: null },
    input: { format: 'png', width: 64, height: 64, bytes: 100 },
    attempts: 0,
    result: null,
    error: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    timings: { queueWaitMs: null, inferenceMs: null, totalMs: null },
    links: { self: `/v1/jobs/${id}` },
    webhook: null,
  } as JobView;
}

const event = (jobId: string, status: JobStatus) => ({ jobId, userId: 'u', status, at: '2026-01-01T00:00:01.000Z' });

describe('withEventStatus', () => {
  it.each([
    ['queued', 'running', 'running'],
    ['running', 'succeeded', 'succeeded'],
    ['queued', 'succeeded', 'succeeded'],
    // A late `running` never undoes a final status.
    ['succeeded', 'running', 'succeeded'],
    ['canceled', 'running', 'canceled'],
    // A retried job goes back to the queue.
    ['failed', 'queued', 'queued'],
  ] as Array<[JobStatus, JobStatus, JobStatus]>)('%s + event %s → %s', (from, announced, expected) => {
    expect(withEventStatus(job('a', from), event('a', announced)).status).toBe(expected);
  });

  it('leaves other jobs alone', () => {
    const other = job('b', 'queued');
    expect(withEventStatus(other, event('a', 'running'))).toBe(other);
  });
});

describe('patchPage', () => {
  it('patches the one job and keeps the page object when nothing changes', () => {
    const page = { data: [job('a', 'queued'), job('b', 'queued')], nextCursor: null };
    const patched = patchPage(page, event('b', 'running'));
    expect(patched.data.map((entry) => entry.status)).toEqual(['queued', 'running']);
    expect(patched.data[0]).toBe(page.data[0]);
    expect(patchPage(page, event('zzz', 'running'))).toBe(page);
  });
});
