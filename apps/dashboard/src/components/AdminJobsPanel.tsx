import { useState } from 'react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { JobStatus } from '@inferq/core';
import type { ApiClient } from '../api/apiClient.ts';
import { formatTime, shortId } from '../format.ts';
import { EmptyState } from './EmptyState.tsx';
import { ErrorNotice } from './ErrorNotice.tsx';
import { modelLabel } from './JobsTable.tsx';
import { Pager, useCursorPages } from './Pager.tsx';
import { StatusBadge } from './StatusBadge.tsx';

type View = 'failed' | 'unfinished' | 'all';
const views: Array<{ key: View; label: string; status?: string }> = [
  { key: 'failed', label: 'Failed', status: 'failed' },
  { key: 'unfinished', label: 'Queued and running', status: 'queued,running' },
  { key: 'all', label: 'All' },
];

/**
 * Every user's jobs for operators: failed ones with their errors and a retry button, unfinished
 * ones with a cancel button.
 */
export function AdminJobsPanel({ client, poll }: { client: ApiClient; poll: number | false }) {
  const queryClient = useQueryClient();
  const [view, setView] = useState<View>('failed');
  const pages = useCursorPages();
  const { cursor } = pages;
  const status = views.find((entry) => entry.key === view)?.status as JobStatus | undefined;
  const jobs = useQuery({
    queryKey: ['admin', 'jobs', view, cursor ?? null],
    queryFn: ({ signal }) => client.adminJobs({ status, cursor, limit: 10 }, signal),
    placeholderData: keepPreviousData,
    refetchInterval: poll,
  });
  const onDone = () => {
    void queryClient.invalidateQueries({ queryKey: ['admin'] });
    void queryClient.invalidateQueries({ queryKey: ['jobs'] });
  };
  const retry = useMutation({ mutationFn: (id: string) => client.retryJob(id), onSuccess: onDone });
  const cancel = useMutation({ mutationFn: (id: string) => client.cancelAnyJob(id), onSuccess: onDone });
  const actionError = retry.error ?? cancel.error;

  return (
    <section className="card" aria-labelledby="admin-jobs-title" data-testid="admin-jobs-panel">
      <div className="card-head">
        <h2 id="admin-jobs-title">All users' jobs</h2>
        <div className="chips" role="group" aria-label="Which jobs">
          {views.map((entry) => (
            <button
              key={entry.key}
              type="button"
              className={`chip${view === entry.key ? ' chip-active' : ''}`}
              aria-pressed={view === entry.key}
              onClick={() => {
                setView(entry.key);
                pages.reset();
              }}
            >
              {entry.label}
            </button>
          ))}
        </div>
      </div>
      {actionError && (
        <ErrorNotice
          error={actionError}
          onDismiss={() => {
            retry.reset();
            cancel.reset();
          }}
        />
      )}
      {jobs.error ? (
        <ErrorNotice error={jobs.error} />
      ) : !jobs.data ? (
        <div className="skeleton" aria-busy="true" />
      ) : jobs.data.data.length === 0 ? (
        <EmptyState title={view === 'failed' ? 'No failed jobs' : view === 'unfinished' ? 'Nothing queued or running' : 'No jobs yet'} icon="✓">
          {view === 'failed' ? 'Jobs that fail for good show up here with their error.' : null}
        </EmptyState>
      ) : (
        <>
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Status</th>
                  <th scope="col">Job</th>
                  <th scope="col">Error</th>
                  <th scope="col" className="num">Attempts</th>
                  <th scope="col">Submitted</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {jobs.data.data.map((job) => (
                  <tr key={job.id} data-job-id={job.id} data-status={job.status}>
                    <td data-label="Status">
                      <StatusBadge status={job.status} />
                    </td>
                    <td data-label="Job">
                      <div>
                        <span className="mono" title={job.id}>
                          {shortId(job.id)}
                        </span>
                        <div className="muted small">
                          {modelLabel(job)} · user <span className="mono">{job.userId ? shortId(job.userId) : '—'}</span>
                        </div>
                      </div>
                    </td>
                    <td data-label="Error">
                      {job.error ? (
                        <div>
                          <code className="code-chip">{job.error.code}</code>
                          <div className="small error-message">{job.error.message}</div>
                        </div>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                    <td data-label="Attempts" className="num">
                      {job.attempts}
                    </td>
                    <td data-label="Submitted">{formatTime(job.createdAt)}</td>
                    <td>
                      {job.status === 'failed' && (
                        <button type="button" className="button button-small" disabled={retry.isPending && retry.variables === job.id} onClick={() => retry.mutate(job.id)}>
                          Retry
                        </button>
                      )}
                      {(job.status === 'queued' || job.status === 'running') && (
                        <button
                          type="button"
                          className="button button-small button-danger"
                          disabled={cancel.isPending && cancel.variables === job.id}
                          onClick={() => cancel.mutate(job.id)}
                        >
                          Cancel
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager {...pages.pager(jobs.data.nextCursor)} />
        </>
      )}
    </section>
  );
}
