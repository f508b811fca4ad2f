import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { useQueryClient, type QueryClient, type QueryKey } from '@tanstack/react-query';
import type { AccountView, JobView, QueueSnapshot } from '@inferq/core';
import type { JobPage } from '../api/jobsApi.ts';
import { useSession } from '../auth/SessionContext.tsx';
import type { StreamState } from '../api/eventStream.ts';
import { patchPage, replaceInPage, withEventStatus, type JobEvent } from './jobEvents.ts';

const LiveStateContext = createContext<StreamState>('offline');

/** The state of this tab's event stream, for the indicator in the header. */
export function useLiveState(): StreamState {
  return useContext(LiveStateContext);
}

/**
 * Re-reads (invalidates) query keys at most once per `intervalMs` each: a burst of events for a
 * busy account costs one list request, not one per event.
 */
export class InvalidationBatcher {
  readonly #client: QueryClient;
  readonly #intervalMs: number;
  readonly #pending = new Map<string, QueryKey>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(client: QueryClient, intervalMs = 500) {
    this.#client = client;
    this.#intervalMs = intervalMs;
  }

  add(key: QueryKey): void {
    this.#pending.set(JSON.stringify(key), key);
    this.#timer ??= setTimeout(() => this.flush(), this.#intervalMs);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const keys = [...this.#pending.values()];
    this.#pending.clear();
    for (const key of keys) void this.#client.invalidateQueries({ queryKey: key });
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#pending.clear();
  }
}

function patchStatus(client: QueryClient, event: JobEvent): void {
  client.setQueryData<JobView>(['job', event.jobId], (job) => (job ? withEventStatus(job, event) : job));
  client.setQueriesData<JobPage>({ queryKey: ['jobs'] }, (page) => (page ? patchPage(page, event) : page));
}

/** Whether the tab shows the job: on a cached list page or as its own cached view. */
function isShown(client: QueryClient, jobId: string): boolean {
  if (client.getQueryData(['job', jobId]) !== undefined) return true;
  return client
    .getQueriesData<JobPage>({ queryKey: ['jobs'] })
    .some(([, page]) => page?.data.some((job) => job.id === jobId));
}

/**
 * Applies one job event to what the page has cached, then schedules the re-reads it calls for.
 * A final status of a job the tab shows comes with its view read at once (`fetchJob`): the event
 * carries only the status, and a row that says succeeded should show its timings and result with
 * it, not dashes for half a second. Should that read fail, the status alone is patched.
 */
export function applyJobEvent(
  client: QueryClient,
  batcher: InvalidationBatcher,
  event: JobEvent,
  ownUserId: string | null,
  fetchJob?: (id: string) => Promise<JobView>,
): void {
  const own = ownUserId === null || event.userId === ownUserId;
  const final = event.status !== 'queued' && event.status !== 'running';
  if (final && own && fetchJob && isShown(client, event.jobId)) {
    void fetchJob(event.jobId).then(
      (fresh) => {
        client.setQueryData<JobView>(['job', fresh.id], fresh);
        client.setQueriesData<JobPage>({ queryKey: ['jobs'] }, (page) => (page ? replaceInPage(page, fresh) : page));
      },
      () => patchStatus(client, event),
    );
  } else {
    patchStatus(client, event);
  }
  batcher.add(['job', event.jobId]);
  if (own) {
    batcher.add(['jobs']);
    batcher.add(['account']);
  }
  batcher.add(['admin', 'jobs']);
}

/**
 * One event stream per tab, shared by every page: job events patch the cached jobs at once (the
 * status badge moves without a request) and schedule a re-read of the changed rows; admins also
 * get queue snapshots. On (re)connect everything is re-read, since events sent while the stream
 * was down are lost.
 */
export function LiveEventsProvider({ children }: { children: ReactNode }) {
  const { session } = useSession();
  const client = useQueryClient();
  const [state, setState] = useState<StreamState>('offline');
  const apiKey = session?.client.apiKey;
  const signInUserId = session?.account?.user.id ?? null;

  useEffect(() => {
    const api = session?.client;
    if (!apiKey || !api) {
      setState('offline');
      return;
    }
    const batcher = new InvalidationBatcher(client);
    let connectedOnce = false;
    const close = api.events.open({
      onState: (next) => {
        setState(next);
        if (next === 'unauthorized') api.account().catch(() => {}); // its 401 signs out
      },
      onMessage: ({ event, data }) => {
        if (event === 'ready') {
          if (connectedOnce) void client.invalidateQueries();
          connectedOnce = true;
        } else if (event === 'job') {
          // After a reload the account comes from its query, not from the sign-in.
          const ownUserId = client.getQueryData<AccountView>(['account'])?.user.id ?? signInUserId;
          applyJobEvent(client, batcher, data as JobEvent, ownUserId, (id) => api.jobs.get(id));
        } else if (event === 'queue') {
          client.setQueryData<QueueSnapshot>(['admin', 'overview'], data as QueueSnapshot);
        }
      },
    });
    return () => {
      close();
      batcher.dispose();
    };
    // The stream belongs to the key: a new sign-in opens a new one.
  }, [apiKey, client]);

  return <LiveStateContext.Provider value={state}>{children}</LiveStateContext.Provider>;
}
