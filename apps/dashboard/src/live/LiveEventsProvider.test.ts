import { QueryClient } from '@tanstack/react-query';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JobView } from '@inferq/core';
import type { JobPage } from '../api/jobsApi.ts';
import { applyJobEvent, InvalidationBatcher } from './LiveEventsProvider.tsx';

afterEach(() => vi.useRealTimers());

const job = (id: string, status: JobView['status']) => ({ id, status }) as JobView;
const event = (jobId: string, userId: string, status: JobView['status']) => ({
  jobId,
  userId,
  status,
  at: new Date().toISOString(),
});

function clientWithJobs(): QueryClient {
  const client = new QueryClient();
  client.setQueryData<JobPage>(['jobs', 'all', null], {
    data: [job('a', 'queued'), job('b', 'queued')],
    nextCursor: null,
  });
  client.setQueryData<JobPage>(['jobs', 'queued', null], { data: [job('a', 'queued')], nextCursor: null });
  client.setQueryData<JobView>(['job', 'a'], job('a', 'queued'));
  return client;
}

describe('applyJobEvent', () => {
  it('moves the badge at once in every cached list and the job itself, then batches the re-reads', () => {
    vi.useFakeTimers();
    const client = clientWithJobs();
    const invalidate = vi.spyOn(client, 'invalidateQueries');
    const batcher = new InvalidationBatcher(client, 500);
    applyJobEvent(client, batcher, event('a', 'me', 'running'), 'me');
    applyJobEvent(client, batcher, event('a', 'me', 'succeeded'), 'me');
    expect(client.getQueryData<JobPage>(['jobs', 'all', null])!.data.map((entry) => entry.status)).toEqual([
      'succeeded',
      'queued',
    ]);
    expect(client.getQueryData<JobPage>(['jobs', 'queued', null])!.data[0]!.status).toBe('succeeded');
    expect(client.getQueryData<JobView>(['job', 'a'])!.status).toBe('succeeded');
    expect(invalidate).not.toHaveBeenCalled();
    vi.advanceTimersByTime(500);
    // Two events, one re-read per key.
    expect(invalidate.mock.calls.map(([filters]) => JSON.stringify(filters?.queryKey)).sort()).toEqual(
      ['["account"]', '["admin","jobs"]', '["job","a"]', '["jobs"]'].sort(),
    );
  });

  it("does not re-read the admin's own lists for another user's job", () => {
    vi.useFakeTimers();
    const client = clientWithJobs();
    const invalidate = vi.spyOn(client, 'invalidateQueries');
    applyJobEvent(client, new InvalidationBatcher(client, 10), event('zzz', 'someone-else', 'running'), 'me');
    vi.advanceTimersByTime(10);
    const keys = invalidate.mock.calls.map(([filters]) => JSON.stringify(filters?.queryKey));
    expect(keys).not.toContain('["jobs"]');
    expect(keys).not.toContain('["account"]');
    expect(keys).toContain('["admin","jobs"]');
    // An event for a job no page holds creates nothing in the cache.
    expect(client.getQueryData(['job', 'zzz'])).toBeUndefined();
  });
});

describe('applyJobEvent with a final status', () => {
  it('puts the fresh view (timings, result) in every list and the job at once, instead of the status alone', async () => {
    const client = clientWithJobs();
    const fresh = { ...job('a', 'succeeded'), timings: { queueWaitMs: 12, inferenceMs: 34, totalMs: 50 } } as JobView;
    const fetchJob = vi.fn(async () => fresh);
    applyJobEvent(client, new InvalidationBatcher(client, 10_000), event('a', 'me', 'succeeded'), 'me', fetchJob);
    // Until the view comes, the row keeps its last full view rather than "succeeded" with dashes.
    expect(client.getQueryData<JobPage>(['jobs', 'all', null])!.data[0]!.status).toBe('queued');
    await vi.waitFor(() => expect(client.getQueryData<JobPage>(['jobs', 'all', null])!.data[0]).toEqual(fresh));
    expect(fetchJob).toHaveBeenCalledWith('a');
    expect(client.getQueryData<JobPage>(['jobs', 'queued', null])!.data[0]).toEqual(fresh);
    expect(client.getQueryData<JobView>(['job', 'a'])).toEqual(fresh);
    expect(client.getQueryData<JobPage>(['jobs', 'all', null])!.data[1]!.status).toBe('queued');
  });

  it('falls back to the status when the view cannot be read, and reads nothing for jobs the tab does not show', async () => {
    const client = clientWithJobs();
    const fetchJob = vi.fn(async () => {
      throw new Error('offline');
    });
    applyJobEvent(client, new InvalidationBatcher(client, 10_000), event('b', 'me', 'failed'), 'me', fetchJob);
    await vi.waitFor(() => expect(client.getQueryData<JobPage>(['jobs', 'all', null])!.data[1]!.status).toBe('failed'));
    applyJobEvent(
      client,
      new InvalidationBatcher(client, 10_000),
      event('elsewhere', 'me', 'succeeded'),
      'me',
      fetchJob,
    );
    applyJobEvent(client, new InvalidationBatcher(client, 10_000), event('a', 'me', 'running'), 'me', fetchJob);
    expect(fetchJob).toHaveBeenCalledTimes(1);
    expect(client.getQueryData<JobView>(['job', 'a'])!.status).toBe('running');
  });
});
