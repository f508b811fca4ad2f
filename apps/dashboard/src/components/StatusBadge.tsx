import type { JobStatus } from '@inferq/core';

const labels: Record<JobStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  canceled: 'Canceled',
};

export function StatusBadge({ status }: { status: JobStatus }) {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {(status === 'running' || status === 'queued') && <span className="badge-pulse" aria-hidden="true" />}
      {labels[status]}
    </span>
  );
}
