import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { HistoryRange, HistoryView } from '@inferq/core';
import type { ApiClient } from '../api/apiClient.ts';
import { EmptyState } from './EmptyState.tsx';
import { ErrorNotice } from './ErrorNotice.tsx';

const ranges: Array<{ key: HistoryRange; label: string }> = [
  { key: 'hour', label: 'Last hour' },
  { key: 'day', label: 'Last day' },
  { key: 'week', label: 'Last week' },
];

export interface ModelHistorySummary {
  model: string;
  submitted: number;
  succeeded: number;
  failed: number;
  /** The worst bucket's queue wait p95, ms. */
  worstWaitP95Ms: number | null;
  /** The highest sampled age of the oldest waiting job, ms. */
  oldestWaitingMs: number | null;
  /** The fewest workers sampled. */
  fewestWorkers: number | null;
  /** Submitted per bucket, oldest first, for the bars. */
  submittedByBucket: number[];
}

const maxOf = (values: Array<number | null>) =>
  values.reduce<number | null>(
    (max, value) => (value === null ? max : max === null ? value : Math.max(max, value)),
    null,
  );
const minOf = (values: Array<number | null>) =>
  values.reduce<number | null>(
    (min, value) => (value === null ? min : min === null ? value : Math.min(min, value)),
    null,
  );

/** The range's points per model: totals, the worst wait and the fewest workers, and the submits per bucket. */
export function summarizeHistory(view: HistoryView): ModelHistorySummary[] {
  const buckets = Math.round((Date.parse(view.to) - Date.parse(view.from)) / (view.bucketSeconds * 1000));
  const byModel = new Map<string, HistoryView['points']>();
  for (const point of view.points) byModel.set(point.model, [...(byModel.get(point.model) ?? []), point]);
  return [...byModel.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([model, points]) => {
      const submittedByBucket = Array.from({ length: buckets }, () => 0);
      for (const point of points) {
        const index = Math.floor((Date.parse(point.at) - Date.parse(view.from)) / (view.bucketSeconds * 1000));
        if (index >= 0 && index < buckets) submittedByBucket[index]! += point.submitted;
      }
      return {
        model,
        submitted: points.reduce((sum, point) => sum + point.submitted, 0),
        succeeded: points.reduce((sum, point) => sum + point.succeeded, 0),
        failed: points.reduce((sum, point) => sum + point.failed, 0),
        worstWaitP95Ms: maxOf(points.map((point) => point.queueWaitP95Ms)),
        oldestWaitingMs: maxOf(points.map((point) => point.oldestWaitingMs)),
        fewestWorkers: minOf(points.map((point) => point.workers)),
        submittedByBucket,
      };
    });
}

function ms(value: number | null): string {
  if (value === null) return '—';
  return value >= 60_000
    ? `${(value / 60_000).toFixed(1)} min`
    : value >= 1000
      ? `${(value / 1000).toFixed(1)} s`
      : `${value} ms`;
}

/** Submits per bucket as a row of bars (the range's shape at a glance). */
function Bars({ values }: { values: number[] }) {
  const max = Math.max(1, ...values);
  return (
    <svg
      className="history-bars"
      viewBox={`0 0 ${values.length} 20`}
      preserveAspectRatio="none"
      width="160"
      height="20"
      aria-hidden="true"
    >
      {values.map((value, i) => (
        <rect key={i} x={i} y={20 - (20 * value) / max} width={0.8} height={(20 * value) / max} />
      ))}
    </svg>
  );
}

export function HistoryTable({ view }: { view: HistoryView }) {
  const rows = summarizeHistory(view);
  if (rows.length === 0)
    return (
      <EmptyState title="No history in this range" icon="○">
        The reconciler writes a row per model each minute once workers run.
      </EmptyState>
    );
  return (
    <div className="table-wrap">
      <table className="table" data-testid="history-table">
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Submitted</th>
            <th scope="col" className="num">
              Succeeded
            </th>
            <th scope="col" className="num">
              Failed
            </th>
            <th scope="col" className="num">
              Worst wait p95
            </th>
            <th scope="col" className="num">
              Oldest waiting
            </th>
            <th scope="col" className="num">
              Fewest workers
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.model} data-model={row.model}>
              <td data-label="Model">{row.model}</td>
              <td data-label="Submitted">
                <Bars values={row.submittedByBucket} /> {row.submitted.toLocaleString()}
              </td>
              <td data-label="Succeeded" className="num">
                {row.succeeded.toLocaleString()}
              </td>
              <td data-label="Failed" className="num">
                {row.failed.toLocaleString()}
              </td>
              <td data-label="Worst wait p95" className="num">
                {ms(row.worstWaitP95Ms)}
              </td>
              <td data-label="Oldest waiting" className="num">
                {ms(row.oldestWaitingMs)}
              </td>
              <td data-label="Fewest workers" className={`num${row.fewestWorkers === 0 ? ' warn-text' : ''}`}>
                {row.fewestWorkers ?? '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The per-model history kept in Postgres, over a chosen range. */
export function HistoryPanel({ client }: { client: ApiClient }) {
  const [range, setRange] = useState<HistoryRange>('hour');
  const history = useQuery({
    queryKey: ['admin', 'history', range],
    queryFn: ({ signal }) => client.operators.history(range, signal),
    refetchInterval: 60_000,
  });
  return (
    <section className="card" aria-labelledby="history-title" data-testid="history-panel">
      <div className="card-head">
        <h2 id="history-title">History</h2>
        <div className="chips" role="group" aria-label="Range">
          {ranges.map((entry) => (
            <button
              key={entry.key}
              type="button"
              className={`chip${range === entry.key ? ' chip-active' : ''}`}
              aria-pressed={range === entry.key}
              onClick={() => setRange(entry.key)}
            >
              {entry.label}
            </button>
          ))}
        </div>
      </div>
      {history.error ? (
        <ErrorNotice error={history.error} />
      ) : history.data ? (
        <HistoryTable view={history.data} />
      ) : (
        <div className="skeleton" aria-busy="true" />
      )}
    </section>
  );
}
