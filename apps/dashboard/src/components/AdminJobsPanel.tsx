import { Fragment, useState, type FormEvent } from 'react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { AdminJobView, CleanJobsBody, JobStatus, UserView } from '@inferq/core';
import type { ApiClient } from '../api/apiClient.ts';
import { ApiError } from '../api/apiTransport.ts';
import { formatTime, shortId } from '../format.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { EmptyState } from './EmptyState.tsx';
import { ErrorNotice } from './ErrorNotice.tsx';
import { modelLabel } from './JobsTable.tsx';
import { Pager, useCursorPages } from './Pager.tsx';
import { StatusBadge } from './StatusBadge.tsx';
import {
  deleteView,
  filterQuery,
  loadViews,
  noFilters,
  saveView,
  type JobFilters,
  type SavedView,
} from './savedViews.ts';

type View = 'failed' | 'unfinished' | 'succeeded' | 'canceled' | 'expired' | 'all';
const views: Array<{ key: View; label: string; status?: string }> = [
  { key: 'failed', label: 'Failed', status: 'failed' },
  { key: 'unfinished', label: 'Queued and running', status: 'queued,running' },
  { key: 'succeeded', label: 'Succeeded', status: 'succeeded' },
  { key: 'canceled', label: 'Canceled', status: 'canceled' },
  { key: 'expired', label: 'Expired', status: 'expired' },
  { key: 'all', label: 'All' },
];
const emptyTitles: Record<View, string> = {
  failed: 'No failed jobs',
  unfinished: 'Nothing queued or running',
  succeeded: 'No succeeded jobs',
  canceled: 'No canceled jobs',
  expired: 'No expired jobs',
  all: 'No jobs yet',
};

/** The final statuses a clean deletes, in the order the form offers them (the API's `cleanableStatuses`). */
const cleanable = ['succeeded', 'failed', 'canceled', 'expired'] as const;
type Cleanable = (typeof cleanable)[number];
const units = { minutes: 60, hours: 3600, days: 86_400 } as const;
type Unit = keyof typeof units;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function userLabel(userId: string | null, users: Map<string, UserView>): string {
  if (!userId) return '—';
  return users.get(userId)?.email ?? shortId(userId);
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

interface RowProps {
  job: AdminJobView;
  users: Map<string, UserView>;
  expanded: boolean;
  onToggleJson: () => void;
  onRetry: () => void;
  onCancel: () => void;
  /** Delivers the final job's webhook again. */
  onRedeliver: () => void;
  retrying: boolean;
}

function AdminJobRow({ job, users, expanded, onToggleJson, onRetry, onCancel, onRedeliver, retrying }: RowProps) {
  return (
    <Fragment>
      <tr data-job-id={job.id} data-status={job.status}>
        <td data-label="Status">
          <StatusBadge status={job.status} />
        </td>
        <td data-label="Job">
          <div>
            <span className="mono" title={job.id}>
              {shortId(job.id)}
            </span>
            {job.input.fileName && <span className="small"> · {job.input.fileName}</span>}
            <div className="muted small">
              {modelLabel(job)} · <span title={job.userId ?? undefined}>{userLabel(job.userId, users)}</span>
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
        <td className="row-actions">
          {job.status === 'failed' && (
            <button type="button" className="button button-small" disabled={retrying} onClick={onRetry}>
              Retry
            </button>
          )}
          {(job.status === 'queued' || job.status === 'running') && (
            <button type="button" className="button button-small button-danger" onClick={onCancel}>
              Cancel
            </button>
          )}
          {job.webhook && (job.status === 'succeeded' || job.status === 'failed' || job.status === 'canceled') && (
            <button
              type="button"
              className="button button-small"
              onClick={onRedeliver}
              title="Deliver the job to its webhook again (a new delivery)"
            >
              Redeliver
            </button>
          )}
          <button type="button" className="button button-small" aria-expanded={expanded} onClick={onToggleJson}>
            {expanded ? 'Hide JSON' : 'JSON'}
          </button>
        </td>
      </tr>
      {expanded && (
        <tr className="row-json" data-json-for={job.id}>
          <td colSpan={6}>
            <pre className="json" data-testid="job-json">
              {JSON.stringify(job, null, 2)}
            </pre>
          </td>
        </tr>
      )}
    </Fragment>
  );
}

/** The clean form: which final statuses, finished how long ago; the count comes from a dry run. */
function CleanDialog({
  client,
  open,
  userId,
  owner,
  onDone,
  onDismiss,
}: {
  client: ApiClient;
  open: boolean;
  userId: string;
  owner: string;
  onDone: (deleted: number, remaining: number) => void;
  onDismiss: () => void;
}) {
  const [statuses, setStatuses] = useState<Cleanable[]>(['succeeded', 'canceled']);
  const [amount, setAmount] = useState('1');
  const [unit, setUnit] = useState<Unit>('days');
  const count = Number(amount);
  const valid = statuses.length > 0 && /^\d{1,6}$/.test(amount.trim());
  const body: CleanJobsBody = {
    statuses,
    olderThanSeconds: valid ? Math.min(count * units[unit], 10 * 365 * 86_400) : 0,
    ...(userId ? { userId } : {}),
  };
  const preview = useQuery({
    queryKey: ['admin', 'clean-preview', body],
    queryFn: () => client.operators.cleanJobs({ ...body, dryRun: true }),
    enabled: open && valid,
    staleTime: 0,
  });
  const clean = useMutation({
    mutationFn: () => client.operators.cleanJobs(body),
    onSuccess: (answer) => onDone(answer.deleted, answer.remaining),
  });
  const matched = preview.data?.deleted ?? null;

  return (
    <ConfirmDialog
      open={open}
      title={userId ? `Clean ${owner}'s finished jobs` : 'Clean finished jobs'}
      confirmLabel={matched !== null ? `Delete ${plural(matched, 'job')}` : 'Delete'}
      dismissLabel="Close"
      danger
      busy={clean.isPending}
      canConfirm={valid && matched !== null && matched > 0 && !preview.isFetching}
      onConfirm={() => clean.mutate()}
      onDismiss={() => {
        clean.reset();
        onDismiss();
      }}
    >
      <fieldset className="clean-form">
        <legend className="field-label">Statuses</legend>
        <div className="row">
          {cleanable.map((status) => (
            <label key={status} className="check">
              <input
                type="checkbox"
                checked={statuses.includes(status)}
                onChange={(event) =>
                  setStatuses((current) =>
                    event.target.checked ? [...current, status] : current.filter((entry) => entry !== status),
                  )
                }
              />
              {status}
            </label>
          ))}
        </div>
        <label className="field field-inline">
          <span className="field-label">Finished more than</span>
          <input
            className="input input-narrow"
            inputMode="numeric"
            value={amount}
            onChange={(event) => setAmount(event.target.value)}
            aria-label="Age"
            data-testid="clean-age"
          />
          <select
            value={unit}
            onChange={(event) => setUnit(event.target.value as Unit)}
            aria-label="Unit"
            data-testid="clean-unit"
          >
            {Object.keys(units).map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
          <span className="field-label">ago</span>
        </label>
      </fieldset>
      <p className="small" data-testid="clean-preview">
        {!valid
          ? 'Pick a status and an age in whole numbers.'
          : preview.error
            ? null
            : matched === null
              ? 'Counting…'
              : `${plural(matched, 'job')} match${matched === 1 ? 'es' : ''}${preview.data?.remaining ? ` (${preview.data.remaining.toLocaleString()} more beyond one request's limit)` : ''}. ${userId ? `Only ${owner}'s jobs. ` : ''}They are deleted from Postgres with their inputs, results and webhook deliveries, and leave the queue; this cannot be undone.`}
      </p>
      {preview.error && <ErrorNotice error={preview.error} />}
      {clean.error && <ErrorNotice error={clean.error} />}
    </ConfirmDialog>
  );
}

/**
 * Every user's jobs for operators, after bull-board: a status filter, a filter by owner, a search
 * by job id, each job's raw JSON, retry of one failed job or all of them, cancel (asked first),
 * and cleaning finished jobs older than an age.
 */
export function AdminJobsPanel({ client, poll }: { client: ApiClient; poll: number | false }) {
  const queryClient = useQueryClient();
  const [view, setView] = useState<View>('failed');
  const [userId, setUserId] = useState('');
  const [search, setSearch] = useState('');
  const [searchedId, setSearchedId] = useState<string | null>(null);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [canceling, setCanceling] = useState<AdminJobView | null>(null);
  const [confirmRetryAll, setConfirmRetryAll] = useState(false);
  const [cleaning, setCleaning] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [filters, setFilters] = useState<JobFilters>(noFilters);
  const [savedViews, setSavedViews] = useState<SavedView[]>(() => loadViews());
  const [confirmRetryMatching, setConfirmRetryMatching] = useState(false);
  const pages = useCursorPages();
  const { cursor } = pages;
  const status = views.find((entry) => entry.key === view)?.status as JobStatus | undefined;

  const users = useQuery({
    queryKey: ['admin', 'users'],
    queryFn: ({ signal }) => client.operators.users(signal),
    staleTime: 60_000,
  });
  const usersById = new Map((users.data ?? []).map((user) => [user.id, user]));
  const jobs = useQuery({
    queryKey: ['admin', 'jobs', view, userId || null, filters, cursor ?? null],
    queryFn: ({ signal }) =>
      client.operators.jobs(
        { status, userId: userId || undefined, ...filterQuery(filters), cursor, limit: 10 },
        signal,
      ),
    placeholderData: keepPreviousData,
    refetchInterval: poll,
    enabled: searchedId === null,
  });
  const found = useQuery({
    queryKey: ['admin', 'jobs', 'by-id', searchedId],
    queryFn: ({ signal }) => client.operators.job(searchedId!, signal),
    enabled: searchedId !== null,
    refetchInterval: poll,
  });

  const onDone = () => {
    void queryClient.invalidateQueries({ queryKey: ['admin'] });
    void queryClient.invalidateQueries({ queryKey: ['jobs'] });
  };
  const retry = useMutation({ mutationFn: (id: string) => client.operators.retryJob(id), onSuccess: onDone });
  const cancel = useMutation({
    mutationFn: (id: string) => client.operators.cancelJob(id),
    onSuccess: onDone,
    onSettled: () => setCanceling(null),
  });
  const retryAll = useMutation({
    mutationFn: () => client.operators.retryFailed(userId ? { userId } : {}),
    onSuccess: (answer) => {
      setNotice(
        `Retried ${plural(answer.retried, 'failed job')}${answer.remaining ? `; ${answer.remaining.toLocaleString()} still failed` : ''}.`,
      );
      onDone();
    },
    onSettled: () => setConfirmRetryAll(false),
  });
  /** The selection the filter bar shows, as a bulk retry's filter. */
  const selection = { ...filterQuery(filters), ...(userId ? { user: userId } : {}) };
  const retryPreview = useQuery({
    queryKey: ['admin', 'retry-preview', selection],
    queryFn: () => client.operators.retryJobs({ filter: selection, dryRun: true }),
    enabled: confirmRetryMatching,
    staleTime: 0,
  });
  const retryMatching = useMutation({
    mutationFn: (asOf: string) => client.operators.retryJobs({ filter: selection, asOf }),
    onSuccess: (answer) => {
      setNotice(
        `Retried ${plural(answer.retried, 'failed job')} of this search${answer.remaining ? `; ${answer.remaining.toLocaleString()} left` : ''}.`,
      );
      onDone();
    },
    onSettled: () => setConfirmRetryMatching(false),
  });
  const setFilter = (field: keyof JobFilters, value: string) => {
    setFilters((current) => ({ ...current, [field]: value }));
    pages.reset();
  };
  const applyView = (name: string) => {
    const saved = savedViews.find((entry) => entry.name === name);
    if (!saved) return;
    setView((views.some((entry) => entry.key === saved.view) ? saved.view : 'all') as View);
    setUserId(saved.userId);
    setFilters({ ...noFilters, ...saved.filters });
    pages.reset();
  };
  const redeliver = useMutation({
    mutationFn: (id: string) => client.operators.redeliverJob(id),
    onSuccess: (_answer, id) =>
      setNotice(`A new delivery of job ${shortId(id)} is on its way; its attempts show in the job's deliveries.`),
  });
  const actionError = retry.error ?? cancel.error ?? retryAll.error ?? retryMatching.error ?? redeliver.error;

  const onSearch = (event: FormEvent) => {
    event.preventDefault();
    const id = search.trim();
    setSearchedId(id ? id : null);
  };
  const toggleJson = (id: string) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const rowOf = (job: AdminJobView) => (
    <AdminJobRow
      key={job.id}
      job={job}
      users={usersById}
      expanded={expanded.has(job.id)}
      onToggleJson={() => toggleJson(job.id)}
      onRetry={() => retry.mutate(job.id)}
      onCancel={() => setCanceling(job)}
      onRedeliver={() => redeliver.mutate(job.id)}
      retrying={retry.isPending && retry.variables === job.id}
    />
  );
  const table = (rows: AdminJobView[]) => (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Status</th>
            <th scope="col">Job</th>
            <th scope="col">Error</th>
            <th scope="col" className="num">
              Attempts
            </th>
            <th scope="col">Submitted</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>{rows.map(rowOf)}</tbody>
      </table>
    </div>
  );
  const notFound = found.error instanceof ApiError && found.error.code === 'JOB_NOT_FOUND';

  return (
    <section className="card" aria-labelledby="admin-jobs-title" data-testid="admin-jobs-panel">
      <div className="card-head">
        <h2 id="admin-jobs-title">All users' jobs</h2>
        <div className="card-actions">
          <button
            type="button"
            className="button button-small"
            disabled={retryAll.isPending}
            onClick={() => setConfirmRetryAll(true)}
          >
            Retry all failed
          </button>
          <button type="button" className="button button-small button-danger" onClick={() => setCleaning(true)}>
            Clean…
          </button>
        </div>
      </div>
      <div className="toolbar">
        <form className="search" role="search" onSubmit={onSearch}>
          <input
            className="input mono"
            type="search"
            placeholder="Find a job by id"
            aria-label="Job id"
            value={search}
            onChange={(event) => {
              setSearch(event.target.value);
              if (!event.target.value) setSearchedId(null);
            }}
            data-testid="job-search"
          />
          <button type="submit" className="button button-small">
            Find
          </button>
        </form>
        <label className="field field-inline">
          <span className="field-label">User</span>
          <select
            value={userId}
            onChange={(event) => {
              setUserId(event.target.value);
              pages.reset();
            }}
            data-testid="user-filter"
            disabled={searchedId !== null}
          >
            <option value="">All users</option>
            {(users.data ?? []).map((user) => (
              <option key={user.id} value={user.id}>
                {user.email}
                {user.role === 'admin' ? ' (admin)' : ''}
              </option>
            ))}
          </select>
        </label>
      </div>
      {searchedId === null && (
        <div className="toolbar filter-bar" data-testid="filter-bar">
          <input
            className="input"
            type="search"
            placeholder="Text in id, file name or metadata"
            aria-label="Search text"
            value={filters.q}
            onChange={(event) => setFilter('q', event.target.value)}
            data-testid="filter-q"
          />
          <input
            className="input input-narrow"
            placeholder="Model"
            aria-label="Model"
            value={filters.model}
            onChange={(event) => setFilter('model', event.target.value)}
            data-testid="filter-model"
          />
          <input
            className="input input-narrow"
            placeholder="Error code"
            aria-label="Error code"
            value={filters.errorCode}
            onChange={(event) => setFilter('errorCode', event.target.value)}
            data-testid="filter-error-code"
          />
          <input
            className="input"
            placeholder="metadata: key=value, …"
            aria-label="Metadata"
            value={filters.metadata}
            onChange={(event) => setFilter('metadata', event.target.value)}
            data-testid="filter-metadata"
          />
          <select
            aria-label="Submitted"
            value={filters.since}
            onChange={(event) => setFilter('since', event.target.value)}
            data-testid="filter-since"
          >
            <option value="">Any time</option>
            <option value="hour">Last hour</option>
            <option value="day">Last day</option>
            <option value="week">Last week</option>
          </select>
          <select
            aria-label="Saved views"
            value=""
            onChange={(event) => applyView(event.target.value)}
            data-testid="saved-views"
          >
            <option value="">Saved views…</option>
            {savedViews.map((saved) => (
              <option key={saved.name} value={saved.name}>
                {saved.name}
              </option>
            ))}
          </select>
          <button
            type="button"
            className="button button-small"
            onClick={() => {
              const name = window.prompt('Save this view as');
              if (name?.trim()) setSavedViews(saveView({ name: name.trim(), view, userId, filters }));
            }}
          >
            Save view
          </button>
          {savedViews.length > 0 && (
            <button
              type="button"
              className="button button-small"
              onClick={() => {
                const name = window.prompt(`Delete which view? (${savedViews.map((saved) => saved.name).join(', ')})`);
                if (name) setSavedViews(deleteView(name.trim()));
              }}
            >
              Delete view
            </button>
          )}
          <button
            type="button"
            className="button button-small"
            onClick={() => setConfirmRetryMatching(true)}
            data-testid="retry-matching"
          >
            Retry failed of this search…
          </button>
        </div>
      )}
      {searchedId === null && (
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
      )}
      {notice && (
        <div className="notice notice-ok notice-row" role="status">
          <span>{notice}</span>
          <button type="button" className="notice-close" onClick={() => setNotice(null)} aria-label="Dismiss">
            ×
          </button>
        </div>
      )}
      {actionError && (
        <ErrorNotice
          error={actionError}
          onDismiss={() => {
            retry.reset();
            cancel.reset();
            retryAll.reset();
            retryMatching.reset();
            redeliver.reset();
          }}
        />
      )}
      {searchedId !== null ? (
        <>
          <div className="row">
            <span className="muted small">
              Job <span className="mono">{searchedId}</span>
            </span>
            <button
              type="button"
              className="button button-small"
              onClick={() => {
                setSearch('');
                setSearchedId(null);
              }}
            >
              Clear search
            </button>
          </div>
          {notFound ? (
            <EmptyState title="No job with this id" icon="?">
              {uuidPattern.test(searchedId)
                ? 'It never existed, or it was deleted (retention or a clean).'
                : 'A job id looks like 0b7e3c1a-5f0e-4c1d-9a57-1c2b3d4e5f60.'}
            </EmptyState>
          ) : found.error ? (
            <ErrorNotice error={found.error} />
          ) : found.data ? (
            table([found.data])
          ) : (
            <div className="skeleton" aria-busy="true" />
          )}
        </>
      ) : jobs.error ? (
        <ErrorNotice error={jobs.error} />
      ) : !jobs.data ? (
        <div className="skeleton" aria-busy="true" />
      ) : jobs.data.data.length === 0 ? (
        <EmptyState title={emptyTitles[view]} icon="✓">
          {view === 'failed' ? 'Jobs that fail for good show up here with their error.' : null}
        </EmptyState>
      ) : (
        <>
          {table(jobs.data.data)}
          <Pager {...pages.pager(jobs.data.nextCursor)} />
        </>
      )}
      <ConfirmDialog
        open={canceling !== null}
        title={`Cancel job ${canceling ? shortId(canceling.id) : ''}?`}
        confirmLabel="Cancel the job"
        danger
        busy={cancel.isPending}
        onConfirm={() => canceling && cancel.mutate(canceling.id)}
        onDismiss={() => setCanceling(null)}
      >
        {canceling && (
          <>
            {userLabel(canceling.userId, usersById)}&apos;s job{' '}
            {canceling.input.fileName ? `(${canceling.input.fileName}) ` : ''}is {canceling.status}.{' '}
            {canceling.status === 'running'
              ? 'The attempt finishes, but its result is thrown away.'
              : 'It leaves the queue and never runs.'}{' '}
            The owner sees it as canceled.
          </>
        )}
      </ConfirmDialog>
      <ConfirmDialog
        open={confirmRetryAll}
        title="Retry all failed jobs?"
        confirmLabel="Retry them all"
        dismissLabel="Not now"
        busy={retryAll.isPending}
        onConfirm={() => retryAll.mutate()}
        onDismiss={() => setConfirmRetryAll(false)}
      >
        Every failed job{userId ? ` of ${userLabel(userId, usersById)}` : ''} goes back to the queue under its own id,
        with its error cleared, up to 10,000 at once.
      </ConfirmDialog>
      <ConfirmDialog
        open={confirmRetryMatching}
        title="Retry the failed jobs of this search?"
        confirmLabel={retryPreview.data ? `Retry ${plural(retryPreview.data.matched, 'job')}` : 'Retry'}
        dismissLabel="Not now"
        busy={retryMatching.isPending}
        canConfirm={Boolean(retryPreview.data && retryPreview.data.matched > 0)}
        onConfirm={() => retryPreview.data && retryMatching.mutate(retryPreview.data.asOf)}
        onDismiss={() => setConfirmRetryMatching(false)}
      >
        <span data-testid="retry-preview">
          {retryPreview.error
            ? null
            : retryPreview.data
              ? `${plural(retryPreview.data.matched, 'failed job')} of this search had failed by now. Each goes back to the queue under its own id; asking again never retries one twice.`
              : 'Counting…'}
        </span>
        {retryPreview.error && <ErrorNotice error={retryPreview.error} />}
      </ConfirmDialog>
      <CleanDialog
        client={client}
        open={cleaning}
        userId={userId}
        owner={userLabel(userId || null, usersById)}
        onDone={(deleted, remaining) => {
          setCleaning(false);
          setNotice(
            `Deleted ${plural(deleted, 'finished job')}${remaining ? `; ${remaining.toLocaleString()} more match, clean again to delete them` : ''}.`,
          );
          onDone();
        }}
        onDismiss={() => setCleaning(false)}
      />
    </section>
  );
}
