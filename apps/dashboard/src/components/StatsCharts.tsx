import { useState } from 'react';
import {
  Area,
  AreaChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { StatsSeries } from '@inferq/core';
import { formatDuration } from '../format.ts';

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

function tickTime(iso: string): string {
  return clock.format(new Date(iso));
}

/** The latency chart's lines: each percentile and its colour. */
const percentileLines = [
  ['p50', '#4f46e5'],
  ['p95', '#f59e0b'],
  ['p99', '#ef4444'],
] as const;

/** Finished jobs per second over the window, split into succeeded and failed. */
export function ThroughputChart({ series }: { series: StatsSeries }) {
  const data = series.buckets.map((bucket) => ({
    start: bucket.start,
    succeeded: Math.round((bucket.succeeded / series.bucketSeconds) * 1000) / 1000,
    failed: Math.round((bucket.failed / series.bucketSeconds) * 1000) / 1000,
  }));
  return (
    <figure className="chart" data-testid="throughput-chart" aria-label="Throughput, jobs per second">
      <ResponsiveContainer width="100%" height={220}>
        <AreaChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 4 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" vertical={false} />
          <XAxis dataKey="start" tickFormatter={tickTime} minTickGap={40} stroke="#9ca3af" fontSize={12} />
          <YAxis
            stroke="#9ca3af"
            fontSize={12}
            allowDecimals
            width={52}
            tickFormatter={(value: number) => String(Math.round(value * 1000) / 1000)}
          />
          <Tooltip
            labelFormatter={(label) => tickTime(String(label))}
            formatter={(value, name) => [`${Number(value).toFixed(2)} jobs/s`, String(name)]}
          />
          <Legend iconType="circle" wrapperStyle={{ fontSize: 12 }} />
          <Area
            type="monotone"
            dataKey="failed"
            stackId="1"
            stroke="#ef4444"
            fill="#fecaca"
            isAnimationActive={false}
          />
          <Area
            type="monotone"
            dataKey="succeeded"
            stackId="1"
            stroke="#10b981"
            fill="#a7f3d0"
            isAnimationActive={false}
          />
        </AreaChart>
      </ResponsiveContainer>
    </figure>
  );
}

type Measure = 'endToEndMs' | 'queueWaitMs' | 'inferenceMs';
const measures: Array<{ key: Measure; label: string }> = [
  { key: 'endToEndMs', label: 'End to end' },
  { key: 'queueWaitMs', label: 'Queue wait' },
  { key: 'inferenceMs', label: 'Inference' },
];

/** p50 / p95 / p99 of one latency, per bucket; the buttons pick which latency. */
export function LatencyChart({ series }: { series: StatsSeries }) {
  const [measure, setMeasure] = useState<Measure>('endToEndMs');
  const data = series.buckets.map((bucket) => ({ start: bucket.start, ...bucket[measure] }));
  const totals = series.totals[measure];
  return (
    <figure className="chart" data-testid="latency-chart" aria-label="Latency percentiles">
      <div className="chart-toolbar">
        <div className="segmented" role="group" aria-label="Latency">
          {measures.map((entry) => (
            <button
              key={entry.key}
              type="button"
              aria-pressed={measure === entry.key}
              className={measure === entry.key ? 'active' : ''}
              onClick={() => setMeasure(entry.key)}
            >
              {entry.label}
            </button>
          ))}
        </div>
        <span className="muted small">
          last hour: p50 {formatDuration(totals.p50)} · p95 {formatDuration(totals.p95)} · p99{' '}
          {formatDuration(totals.p99)}
        </span>
      </div>
      <ResponsiveContainer width="100%" height={220}>
        <LineChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 4 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" vertical={false} />
          <XAxis dataKey="start" tickFormatter={tickTime} minTickGap={40} stroke="#9ca3af" fontSize={12} />
          <YAxis stroke="#9ca3af" fontSize={12} width={64} tickFormatter={(value: number) => formatDuration(value)} />
          <Tooltip
            labelFormatter={(label) => tickTime(String(label))}
            formatter={(value, name) => [formatDuration(Number(value)), String(name)]}
          />
          <Legend iconType="plainline" wrapperStyle={{ fontSize: 12 }} />
          {percentileLines.map(([key, colour]) => (
            <Line
              key={key}
              type="monotone"
              dataKey={key}
              stroke={colour}
              strokeWidth={2}
              dot={{ r: 2 }}
              connectNulls
              isAnimationActive={false}
            />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </figure>
  );
}
