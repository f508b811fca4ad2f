import { useQuery } from '@tanstack/react-query';
import { useSignedIn } from '../auth/SessionContext.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { AdminJobsPanel } from '../components/AdminJobsPanel.tsx';
import { ModelsPanel } from '../components/ModelsPanel.tsx';
import { QueuePanel } from '../components/QueuePanel.tsx';
import { LatencyChart, ThroughputChart } from '../components/StatsCharts.tsx';
import { WorkersPanel } from '../components/WorkersPanel.tsx';
import { useLiveState } from '../live/LiveEventsProvider.tsx';

const statsWindow = { windowSeconds: 3600, bucketSeconds: 60 };

/** The operators' view: queue, workers, throughput and latency, failures, models. */
export function OperationsPage() {
  const { client } = useSignedIn();
  const live = useLiveState();
  // The event stream pushes queue snapshots every 2 s; polling only stands in while it is down.
  const overview = useQuery({ queryKey: ['admin', 'overview'], queryFn: ({ signal }) => client.overview(signal), refetchInterval: live === 'live' ? false : 3000 });
  const stats = useQuery({ queryKey: ['admin', 'stats', statsWindow], queryFn: ({ signal }) => client.stats(statsWindow, signal), refetchInterval: 15_000 });
  // Swaps move in seconds: re-read while the page is open.
  const models = useQuery({ queryKey: ['models'], queryFn: ({ signal }) => client.models(signal), refetchInterval: 5000 });

  return (
    <div className="page">
      <div className="page-head">
        <h1>Operations</h1>
        <p className="muted">The whole platform, live: queue, workers, throughput and latency over the last hour, every user's jobs.</p>
      </div>
      {overview.error && <ErrorNotice error={overview.error} />}
      <div className="grid grid-two">
        {overview.data ? <QueuePanel snapshot={overview.data} /> : <div className="card skeleton" aria-busy="true" />}
        {models.error ? <ErrorNotice error={models.error} /> : models.data ? <ModelsPanel view={models.data} /> : <div className="card skeleton" aria-busy="true" />}
      </div>
      {overview.data ? <WorkersPanel workers={overview.data.workers} /> : <div className="card skeleton" aria-busy="true" />}
      <div className="grid grid-two">
        <section className="card" aria-labelledby="throughput-title">
          <div className="card-head">
            <h2 id="throughput-title">Throughput</h2>
            {stats.data && (
              <span className="muted small">
                {stats.data.totals.succeeded.toLocaleString()} succeeded · {stats.data.totals.failed.toLocaleString()} failed · {stats.data.totals.throughput.toFixed(2)} jobs/s
              </span>
            )}
          </div>
          {stats.error ? <ErrorNotice error={stats.error} /> : stats.data ? <ThroughputChart series={stats.data} /> : <div className="skeleton" aria-busy="true" />}
        </section>
        <section className="card" aria-labelledby="latency-title">
          <div className="card-head">
            <h2 id="latency-title">Latency</h2>
          </div>
          {stats.error ? <ErrorNotice error={stats.error} /> : stats.data ? <LatencyChart series={stats.data} /> : <div className="skeleton" aria-busy="true" />}
        </section>
      </div>
      <AdminJobsPanel client={client} poll={live === 'live' ? 30_000 : 5000} />
    </div>
  );
}
