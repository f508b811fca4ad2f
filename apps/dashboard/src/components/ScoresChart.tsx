import { Bar, BarChart, CartesianGrid, Cell, LabelList, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatPercent } from '../format.ts';

export interface ClassScore {
  label: string;
  score: number;
}

/** The classes' scores from a job result: the decoded labels, or the raw vector by index. */
export function scoresOf(result: { output: number[][]; top: ClassScore[] | null }, maxBars = 20): ClassScore[] {
  const scores =
    result.top && result.top.length > 0
      ? result.top
      : (result.output[0] ?? []).map((score, index) => ({ label: `#${index}`, score }));
  return [...scores].sort((a, b) => b.score - a.score).slice(0, maxBars);
}

/** One bar per class, best first, with the score written beside it; a table says the same to screen readers. */
export function ScoresChart({ scores }: { scores: ClassScore[] }) {
  const data = scores.map((entry) => ({ label: entry.label, percent: Math.round(entry.score * 10_000) / 100 }));
  const height = Math.max(120, data.length * 38 + 36);
  return (
    <figure className="chart scores-chart" data-testid="scores-chart" aria-label="Score per class">
      <ResponsiveContainer width="100%" height={height}>
        <BarChart data={data} layout="vertical" margin={{ top: 4, right: 56, bottom: 4, left: 4 }}>
          <CartesianGrid horizontal={false} strokeDasharray="3 3" stroke="#e5e7eb" />
          <XAxis
            type="number"
            domain={[0, 100]}
            ticks={[0, 25, 50, 75, 100]}
            tickFormatter={(value: number) => `${value}%`}
            stroke="#9ca3af"
            fontSize={12}
          />
          <YAxis type="category" dataKey="label" width={92} stroke="#6b7280" fontSize={13} tickLine={false} />
          <Tooltip formatter={(value) => [`${Number(value).toFixed(2)}%`, 'score']} cursor={{ fill: '#f3f4f6' }} />
          <Bar dataKey="percent" radius={[0, 6, 6, 0]} isAnimationActive={false} barSize={22}>
            {data.map((entry, index) => (
              <Cell key={entry.label} fill={index === 0 ? '#4f46e5' : '#a5b4fc'} />
            ))}
            <LabelList
              dataKey="percent"
              position="right"
              formatter={(value) => `${Number(value).toFixed(1)}%`}
              fontSize={12}
              fill="#374151"
            />
          </Bar>
        </BarChart>
      </ResponsiveContainer>
      <table className="visually-hidden">
        <caption>Score per class</caption>
        <tbody>
          {scores.map((entry) => (
            <tr key={entry.label}>
              <th scope="row">{entry.label}</th>
              <td>{formatPercent(entry.score)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
