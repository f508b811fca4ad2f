import { QueryClient } from '@tanstack/react-query';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JobView } from '@inferq/core';
import type { JobPage } from '../api/apiClient.ts';
import { applyJobEvent, InvalidationBatcher } from './LiveEventsProvider.tsx';

afterEach(() => vi.useRealTimers());

const job = (id: string, status: JobView['status']) => ({ id, status }) as JobView;
const event = (jobId: string, userId: string, status: JobView['status']) => ({ jobId, userId, status, at: new Date().toISOString() });

function clientWithJobs(): QueryClient {
  const client = new QueryClient();
  client.setQueryData<JobPage>(['jobs', 'all', null], { data: [job('a', 'queued'), job('b', 'queued')], nextCursor: null });
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
    expect(client.getQueryData<JobPage>(['jobs', 'all', null])!.data.map((entry) => entry.status)).toEqual(['succeeded', 'queued']);
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
