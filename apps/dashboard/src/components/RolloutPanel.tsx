import { useQueries, useQuery } from '@tanstack/react-query';
import type { ModelComparison, ModelRollbackView, TrafficView } from '@inferq/core';
import type { ApiClient } from '../api/apiClient.ts';
import { formatTime } from '../format.ts';
import { EmptyState } from './EmptyState.tsx';

/** One model under a split, with the comparison of each candidate against the baseline. */
export interface Rollout {
  traffic: TrafficView & { traffic: NonNullable<TrafficView['traffic']> };
  comparisons: ModelComparison[];
}

const percent = (value: number | null) => (value === null ? '–' : `${(value * 100).toFixed(1)}%`);
const ms = (value: number | null) => (value === null ? '–' : `${value.toFixed(1)} ms`);

/** The candidates of a split: its versions and its shadow, less the baseline. */
export function candidatesOf(traffic: NonNullable<TrafficView['traffic']>): string[] {
  return [
    ...new Set([...traffic.split.map((entry) => entry.version), ...(traffic.shadow ? [traffic.shadow.version] : [])]),
  ].filter((version) => version !== traffic.baseline);
}

/** The rollouts in progress and the latest automatic rollbacks, as data (see {@link RolloutPanel}). */
export function RolloutView({ rollouts, rollbacks }: { rollouts: Rollout[]; rollbacks: ModelRollbackView[] }) {
  return (
    <section className="card" aria-labelledby="rollout-title" data-testid="rollout-panel">
      <div className="card-head">
        <h2 id="rollout-title">Rollouts</h2>
        <span className="muted small">traffic splits, shadow runs and their comparison with the baseline</span>
      </div>
      {rollouts.length === 0 ? (
        <EmptyState title="No traffic split">
          Every job that names no version runs on its model&apos;s live version. Split with{' '}
          <code>pnpm admin models traffic NAME V=W …</code>.
        </EmptyState>
      ) : (
        <ul className="models">
          {rollouts.map(({ traffic: view, comparisons }) => (
            <li key={view.model} className="model" data-testid={`rollout-${view.model}`}>
              <div className="model-head">
                <strong>{view.model}</strong>
                <span className="pill pill-ok">baseline {view.traffic.baseline}</span>
                {view.traffic.sticky === 'user' && <span className="pill pill-info">sticky per user</span>}
                {view.traffic.shadow && (
                  <span className={`pill ${view.traffic.shadow.workersReady > 0 ? 'pill-info' : 'pill-warn'}`}>
                    shadow {view.traffic.shadow.version}
                    {view.traffic.shadow.workersReady === 0 ? ' (warming)' : ''}
                  </span>
                )}
                <span className="muted small">since {formatTime(view.traffic.since)}</span>
              </div>
              <ul className="versions">
                {view.traffic.split.map((entry) => (
                  <li key={entry.version} className="version">
                    <span className="mono">{entry.version}</span>
                    <span className="small">{percent(entry.share)} of traffic</span>
                    <span className={entry.workersReady > 0 ? 'small' : 'small warn-text'}>
                      {entry.workersReady > 0
                        ? `warm on ${entry.workersReady}`
                        : 'warming: its share goes to the baseline'}
                    </span>
                  </li>
                ))}
              </ul>
              {view.traffic.rules && (
                <p className="muted small">rollback rules: {JSON.stringify(view.traffic.rules)}</p>
              )}
              {comparisons.map((compared) => (
                <table
                  key={compared.candidate.version}
                  className="small"
                  data-testid={`comparison-${view.model}-${compared.candidate.version}`}
                >
                  <caption className="muted small">
                    {compared.candidate.version} against {compared.baseline.version}: {compared.shadow.pairs} shadowed
                    pairs, agreement {percent(compared.shadow.agreement)}
                    {compared.shadow.maxAbsScoreDiff !== null
                      ? `, score difference mean ${compared.shadow.meanAbsScoreDiff?.toFixed(4)} max ${compared.shadow.maxAbsScoreDiff.toFixed(4)}`
                      : ''}
                  </caption>
                  <thead>
                    <tr>
                      <th>version</th>
                      <th>jobs</th>
                      <th>shadow runs</th>
                      <th>error rate</th>
                      <th>p50</th>
                      <th>p95</th>
                    </tr>
                  </thead>
                  <tbody>
                    {[compared.baseline, compared.candidate].map((figures) => (
                      <tr key={figures.version}>
                        <td className="mono">{figures.version}</td>
                        <td>{figures.jobs}</td>
                        <td>{figures.shadowRuns}</td>
                        <td>{percent(figures.errorRate)}</td>
                        <td>{ms(figures.p50Ms)}</td>
                        <td>{ms(figures.p95Ms)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              ))}
            </li>
          ))}
        </ul>
      )}
      {rollbacks.length > 0 && (
        <>
          <h3 className="small">Automatic rollbacks</h3>
          <ul className="versions" data-testid="rollbacks">
            {rollbacks.map((rollback) => (
              <li key={rollback.id} className="version">
                <span className="muted small">{formatTime(rollback.at)}</span>
                <span className="small">
                  <strong>{rollback.model}</strong> {rollback.candidate} → {rollback.baseline}
                </span>
                <span className="small warn-text">
                  {rollback.rule}: {rollback.reason}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** Reads every model's split, the comparison of each candidate, and the rollbacks; re-read every 10 s. */
export function RolloutPanel({ client, models }: { client: ApiClient; models: string[] }) {
  const traffic = useQueries({
    queries: models.map((model) => ({
      queryKey: ['admin', 'traffic', model],
      queryFn: ({ signal }: { signal: AbortSignal }) => client.models.traffic(model, signal),
      refetchInterval: 10_000,
    })),
  });
  const split = traffic.flatMap((query) => (query.data?.traffic ? [query.data as Rollout['traffic']] : []));
  const pairs = split.flatMap((view) =>
    candidatesOf(view.traffic).map((candidate) => ({ model: view.model, baseline: view.traffic.baseline, candidate })),
  );
  const comparisons = useQueries({
    queries: pairs.map((pair) => ({
      queryKey: ['admin', 'compare', pair.model, pair.baseline, pair.candidate],
      queryFn: ({ signal }: { signal: AbortSignal }) =>
        client.models.compareVersions(pair.model, pair.baseline, pair.candidate, signal),
      refetchInterval: 10_000,
    })),
  });
  const rollbacks = useQuery({
    queryKey: ['admin', 'rollbacks'],
    queryFn: ({ signal }) => client.models.rollbacks(signal),
    refetchInterval: 10_000,
  });
  const rollouts = split.map((view) => ({
    traffic: view,
    comparisons: comparisons.flatMap((query) =>
      query.data && query.data.model === view.model && query.data.baseline.version === view.traffic.baseline
        ? [query.data]
        : [],
    ),
  }));
  return <RolloutView rollouts={rollouts} rollbacks={rollbacks.data ?? []} />;
}
