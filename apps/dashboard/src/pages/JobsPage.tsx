import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useSearchParams } from 'react-router';
import type { JobStatus } from '@inferq/core';
import { jobStatuses } from '../api/jobStatuses.ts';
import { useSignedIn } from '../auth/SessionContext.tsx';
import { AccountCard } from '../components/AccountCard.tsx';
import { EmptyState } from '../components/EmptyState.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { JobsTable } from '../components/JobsTable.tsx';
import { Pager, useCursorPages } from '../components/Pager.tsx';
import { UploadPanel } from '../components/UploadPanel.tsx';
import { useLiveState } from '../live/LiveEventsProvider.tsx';

const pageSize = 15;
const filterLabels: Record<JobStatus | 'all', string> = {
  all: 'All',
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  canceled: 'Canceled',
  expired: 'Expired',
};

function statusFilter(value: string | null): JobStatus | undefined {
  return (jobStatuses as readonly string[]).includes(value ?? '') ? (value as JobStatus) : undefined;
}

export function JobsPage() {
  const { client } = useSignedIn();
  const live = useLiveState();
  const [params, setParams] = useSearchParams();
  const status = statusFilter(params.get('status'));
  const pages = useCursorPages();
  const { cursor } = pages;
  // Without the event stream the page still follows along, more slowly.
  const fallbackPoll = live === 'live' ? false : 10_000;

  const models = useQuery({
    queryKey: ['models'],
    queryFn: ({ signal }) => client.models.list(signal),
    staleTime: 60_000,
  });
  const account = useQuery({
    queryKey: ['account'],
    queryFn: ({ signal }) => client.account(signal),
    refetchInterval: live === 'live' ? 30_000 : 10_000,
  });
  const jobs = useQuery({
    queryKey: ['jobs', status ?? 'all', cursor ?? null],
    queryFn: ({ signal }) => client.jobs.list({ status, cursor, limit: pageSize }, signal),
    placeholderData: keepPreviousData,
    refetchInterval: fallbackPoll,
  });

  const setFilter = (next: JobStatus | 'all') => {
    pages.reset();
    setParams(next === 'all' ? {} : { status: next }, { replace: true });
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Jobs</h1>
        <p className="muted">Submit an image and watch it go from queued to running to succeeded.</p>
      </div>
      <div className="jobs-layout">
        <div className="area-upload">
          <UploadPanel client={client} maxBytes={account.data?.tier.maxUploadBytes} models={models.data?.models} />
        </div>
        <div className="area-plan">
          {account.data && <AccountCard account={account.data} />}
          {account.error && <ErrorNotice error={account.error} />}
        </div>
        <section className="card area-jobs" aria-labelledby="jobs-title">
          <div className="card-head">
            <h2 id="jobs-title">Your jobs</h2>
            {jobs.isFetching && <span className="muted small">updating…</span>}
          </div>
          <div className="chips" role="group" aria-label="Filter by status">
            {(['all', ...jobStatuses] as const).map((value) => (
              <button
                key={value}
                type="button"
                className={`chip${(status ?? 'all') === value ? ' chip-active' : ''}`}
                aria-pressed={(status ?? 'all') === value}
                onClick={() => setFilter(value)}
              >
                {filterLabels[value]}
              </button>
            ))}
          </div>
          {jobs.error ? (
            <ErrorNotice error={jobs.error} />
          ) : jobs.isPending ? (
            <div className="skeleton" aria-busy="true" aria-label="Loading jobs" />
          ) : jobs.data.data.length === 0 ? (
            status ? (
              <EmptyState title={`No ${filterLabels[status].toLowerCase()} jobs`}>Try another filter.</EmptyState>
            ) : (
              <EmptyState title="No jobs yet" icon="⇪">
                Submit an image on the left, or send one with <code>curl -F image=@photo.jpg …/v1/jobs</code>.
              </EmptyState>
            )
          ) : (
            <>
              <JobsTable jobs={jobs.data.data} />
              <Pager {...pages.pager(jobs.data.nextCursor)} />
            </>
          )}
        </section>
      </div>
    </div>
  );
}
