import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { QueueSnapshot, UserView } from '@inferq/core';
import { ApiError } from '../api/apiTransport.ts';
import { useSignedIn } from '../auth/SessionContext.tsx';
import { EmptyState } from '../components/EmptyState.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { AdminJobsPanel } from '../components/AdminJobsPanel.tsx';
import { AdmissionPanel } from '../components/AdmissionPanel.tsx';
import { HistoryPanel } from '../components/HistoryPanel.tsx';
import { ModelsPanel } from '../components/ModelsPanel.tsx';
import { QueuePanel } from '../components/QueuePanel.tsx';
import { RolloutPanel } from '../components/RolloutPanel.tsx';
import { UsersPanel } from '../components/UsersPanel.tsx';
import { LatencyChart, ThroughputChart } from '../components/StatsCharts.tsx';
import { WorkersPanel } from '../components/WorkersPanel.tsx';
import { useLiveState } from '../live/LiveEventsProvider.tsx';

const statsWindow = { windowSeconds: 3600, bucketSeconds: 60 };

/** What a signed-in user who is not an administrator sees here: one clear page, no failed panels. */
function AdministratorsOnly({ email }: { email: string }) {
  return (
    <div className="page" data-testid="admins-only">
      <EmptyState title="Administrators only" icon="🔒">
        The operations page shows every user&apos;s jobs and the queue controls, so it is open to administrator
        accounts. You are signed in as <strong>{email}</strong>, a user account.{' '}
        <a href="/dashboard/jobs">Back to your jobs</a>
      </EmptyState>
    </div>
  );
}

/**
 * The operators' view: queue, workers, throughput and latency, failures, models. Its requests
 * start only once the account says administrator; anyone else gets {@link AdministratorsOnly}.
 */
export function OperationsPage() {
  const { client, account: signInAccount } = useSignedIn();
  const account = useQuery({
    queryKey: ['account'],
    queryFn: ({ signal }) => client.account(signal),
    initialData: signInAccount ?? undefined,
    staleTime: 10_000,
  });
  if (account.error)
    return (
      <div className="page">
        <ErrorNotice error={account.error} />
      </div>
    );
  if (!account.data)
    return (
      <div className="page">
        <div className="skeleton" aria-busy="true" aria-label="Loading" />
      </div>
    );
  if (account.data.user.role !== 'admin') return <AdministratorsOnly email={account.data.user.email} />;
  return <OperationsDashboard />;
}

function OperationsDashboard() {
  const { client, account } = useSignedIn();
  const live = useLiveState();
  const queryClient = useQueryClient();
  // The event stream pushes queue snapshots every 2 s; polling only stands in while it is down.
  const overview = useQuery({
    queryKey: ['admin', 'overview'],
    queryFn: ({ signal }) => client.operators.overview(signal),
    refetchInterval: live === 'live' ? false : 3000,
  });
  const stats = useQuery({
    queryKey: ['admin', 'stats', statsWindow],
    queryFn: ({ signal }) => client.operators.stats(statsWindow, signal),
    refetchInterval: 15_000,
  });
  // Swaps move in seconds: re-read while the page is open.
  const models = useQuery({
    queryKey: ['models'],
    queryFn: ({ signal }) => client.models.list(signal),
    refetchInterval: 5000,
  });
  const pause = useMutation({
    mutationFn: (paused: boolean) => (paused ? client.operators.pauseQueue() : client.operators.resumeQueue()),
    onSuccess: (answer) => {
      // The snapshot says so at once; the next pushed one confirms it.
      queryClient.setQueryData<QueueSnapshot>(['admin', 'overview'], (snapshot) =>
        snapshot ? { ...snapshot, paused: answer.paused } : snapshot,
      );
      void queryClient.invalidateQueries({ queryKey: ['admin', 'overview'] });
    },
  });
  // The same query as the jobs panel's owner filter: one request for both.
  const users = useQuery({
    queryKey: ['admin', 'users'],
    queryFn: ({ signal }) => client.operators.users(signal),
    staleTime: 60_000,
  });
  const admission = useQuery({
    queryKey: ['admin', 'admission'],
    queryFn: ({ signal }) => client.operators.admission(signal),
    refetchInterval: 2000,
  });
  const setDisabled = useMutation({
    mutationFn: ({ user, disabled }: { user: UserView; disabled: boolean }) =>
      client.operators.setUserDisabled(user.id, disabled),
    onSuccess: (changed) => {
      queryClient.setQueryData<UserView[]>(['admin', 'users'], (list) =>
        list?.map((user) => (user.id === changed.id ? { ...user, disabledAt: changed.disabledAt } : user)),
      );
    },
  });
  // Lost admin rights since the page opened (or the account was reloaded): the same one page.
  if ([overview.error, stats.error].some((error) => error instanceof ApiError && error.code === 'FORBIDDEN')) {
    return <AdministratorsOnly email={account?.user.email ?? 'this key'} />;
  }

  return (
    <div className="page">
      <div className="page-head">
        <h1>Operations</h1>
        <p className="muted">
          The whole platform, live: queue, workers, throughput and latency over the last hour, every user's jobs.
        </p>
      </div>
      {overview.error && <ErrorNotice error={overview.error} />}
      {pause.error && <ErrorNotice error={pause.error} onDismiss={() => pause.reset()} />}
      <div className="grid grid-two">
        {overview.data ? (
          <QueuePanel snapshot={overview.data} onPause={(paused) => pause.mutate(paused)} pausing={pause.isPending} />
        ) : (
          <div className="card skeleton" aria-busy="true" />
        )}
        {models.error ? (
          <ErrorNotice error={models.error} />
        ) : models.data ? (
          <ModelsPanel view={models.data} />
        ) : (
          <div className="card skeleton" aria-busy="true" />
        )}
      </div>
      {models.data && (
        <RolloutPanel
          client={client}
          models={models.data.models.filter((model) => !model.remote).map((model) => model.name)}
        />
      )}
      {overview.data ? (
        <WorkersPanel workers={overview.data.workers} />
      ) : (
        <div className="card skeleton" aria-busy="true" />
      )}
      {admission.error ? (
        <ErrorNotice error={admission.error} />
      ) : admission.data ? (
        <AdmissionPanel view={admission.data} users={users.data} />
      ) : (
        <div className="card skeleton" aria-busy="true" />
      )}
      <div className="grid grid-two">
        <section className="card" aria-labelledby="throughput-title">
          <div className="card-head">
            <h2 id="throughput-title">Throughput</h2>
            {stats.data && (
              <span className="muted small">
                {stats.data.totals.succeeded.toLocaleString()} succeeded · {stats.data.totals.failed.toLocaleString()}{' '}
                failed · {stats.data.totals.throughput.toFixed(2)} jobs/s
              </span>
            )}
          </div>
          {stats.error ? (
            <ErrorNotice error={stats.error} />
          ) : stats.data ? (
            <ThroughputChart series={stats.data} />
          ) : (
            <div className="skeleton" aria-busy="true" />
          )}
        </section>
        <section className="card" aria-labelledby="latency-title">
          <div className="card-head">
            <h2 id="latency-title">Latency</h2>
          </div>
          {stats.error ? (
            <ErrorNotice error={stats.error} />
          ) : stats.data ? (
            <LatencyChart series={stats.data} />
          ) : (
            <div className="skeleton" aria-busy="true" />
          )}
        </section>
      </div>
      <HistoryPanel client={client} />
      <AdminJobsPanel client={client} poll={live === 'live' ? 30_000 : 5000} />
      {setDisabled.error && <ErrorNotice error={setDisabled.error} onDismiss={() => setDisabled.reset()} />}
      {users.error ? (
        <ErrorNotice error={users.error} />
      ) : users.data ? (
        <UsersPanel
          users={users.data}
          selfId={account?.user.id}
          busyId={setDisabled.isPending ? setDisabled.variables.user.id : undefined}
          onSetDisabled={(user, disabled) => setDisabled.mutate({ user, disabled })}
        />
      ) : (
        <div className="card skeleton" aria-busy="true" />
      )}
    </div>
  );
}
