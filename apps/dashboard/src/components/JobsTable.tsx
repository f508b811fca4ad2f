import { Link } from 'react-router';
import type { JobView } from '@inferq/core';
import { formatDuration, formatPercent, formatTime, shortId } from '../format.ts';
import { JobThumbnail } from './JobThumbnail.tsx';
import { StatusBadge } from './StatusBadge.tsx';

export function modelLabel(job: JobView): string {
  const version = job.model.version ?? job.model.requestedVersion;
  return version ? `${job.model.name}@${version}` : job.model.name;
}

/** The best class of a result: the decoded label, or the index of the largest raw score. */
export function topScore(result: JobView['result']): { label: string; score: number } | null {
  if (!result) return null;
  const best = result.top?.reduce<{ label: string; score: number } | null>(
    (top, entry) => (!top || entry.score > top.score ? entry : top),
    null,
  );
  if (best) return best;
  const output = result.output[0] ?? [];
  if (output.length === 0) return null;
  const index = output.reduce((top, score, at) => (score > (output[top] ?? -Infinity) ? at : top), 0);
  return { label: `#${index}`, score: output[index]! };
}

/** Jobs newest first; a table on wide screens, a stack of cards on narrow ones (same markup). */
export function JobsTable({ jobs }: { jobs: JobView[] }) {
  return (
    <div className="table-wrap">
      <table className="table jobs-table" data-testid="jobs-table">
        <thead>
          <tr>
            <th scope="col">
              <span className="visually-hidden">Image</span>
            </th>
            <th scope="col">Status</th>
            <th scope="col">File</th>
            <th scope="col">Result</th>
            <th scope="col">Submitted</th>
            <th scope="col" className="num">
              Queue wait
            </th>
            <th scope="col" className="num">
              Inference
            </th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => {
            const top = job.status === 'succeeded' ? topScore(job.result) : null;
            return (
              <tr key={job.id} data-job-id={job.id} data-status={job.status}>
                <td className="thumb-cell">
                  <JobThumbnail job={job} />
                </td>
                <td data-label="Status">
                  <StatusBadge
                    status={job.status}
                    waitingFor={job.waitingFor}
                    queuePosition={job.queuePosition}
                    etaSeconds={job.etaSeconds}
                  />
                </td>
                <td data-label="File">
                  <div className="cell-file">
                    <Link
                      to={`/jobs/${job.id}`}
                      title={job.input.fileName ?? job.id}
                      className="file-name"
                      data-testid="file-name"
                    >
                      {job.input.fileName ?? <span className="mono">{shortId(job.id)}</span>}
                    </Link>
                    <span className="muted small">
                      {job.input.fileName ? <span className="mono">{shortId(job.id)}</span> : null}
                      {job.input.fileName ? ' · ' : ''}
                      {modelLabel(job)}
                    </span>
                  </div>
                </td>
                <td data-label="Result" data-testid="top-result">
                  {top ? (
                    <span className="top-result">
                      <span className="top-label">{top.label}</span>{' '}
                      <span className="muted">{formatPercent(top.score)}</span>
                    </span>
                  ) : job.status === 'failed' && job.error ? (
                    <code className="code-chip">{job.error.code}</code>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td data-label="Submitted">{formatTime(job.createdAt)}</td>
                <td data-label="Queue wait" className="num">
                  {formatDuration(job.timings.queueWaitMs)}
                </td>
                <td data-label="Inference" className="num">
                  {formatDuration(job.timings.inferenceMs)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
