import { Link } from 'react-router';
import type { JobView } from '@inferq/core';
import { formatDuration, formatTime, shortId } from '../format.ts';
import { StatusBadge } from './StatusBadge.tsx';

export function modelLabel(job: JobView): string {
  const version = job.model.version ?? job.model.requestedVersion;
  return version ? `${job.model.name}@${version}` : job.model.name;
}

/** Jobs newest first; a table on wide screens, a stack of cards on narrow ones (same markup). */
export function JobsTable({ jobs }: { jobs: JobView[] }) {
  return (
    <div className="table-wrap">
      <table className="table jobs-table" data-testid="jobs-table">
        <thead>
          <tr>
            <th scope="col">Status</th>
            <th scope="col">Job</th>
            <th scope="col">Model</th>
            <th scope="col">Submitted</th>
            <th scope="col">Started</th>
            <th scope="col">Finished</th>
            <th scope="col" className="num">Queue wait</th>
            <th scope="col" className="num">Inference</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id} data-job-id={job.id} data-status={job.status}>
              <td data-label="Status">
                <StatusBadge status={job.status} waitingFor={job.waitingFor} />
              </td>
              <td data-label="Job">
                <Link className="mono" to={`/jobs/${job.id}`} title={job.id}>
                  {shortId(job.id)}
                </Link>
              </td>
              <td data-label="Model">{modelLabel(job)}</td>
              <td data-label="Submitted">{formatTime(job.createdAt)}</td>
              <td data-label="Started">{formatTime(job.startedAt)}</td>
              <td data-label="Finished">{formatTime(job.finishedAt)}</td>
              <td data-label="Queue wait" className="num">
                {formatDuration(job.timings.queueWaitMs)}
              </td>
              <td data-label="Inference" className="num">
                {formatDuration(job.timings.inferenceMs)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
