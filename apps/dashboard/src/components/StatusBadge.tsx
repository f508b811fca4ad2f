import type { JobStatus } from '@inferq/core';

const labels: Record<JobStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  canceled: 'Canceled',
  expired: 'Expired',
};

/** A job's status; a queued job whose model no live worker serves says it waits for one. */
export function StatusBadge({ status, waitingFor }: { status: JobStatus; waitingFor?: 'worker' | null | undefined }) {
  return (
    <>
      <span className={`badge badge-${status}`} data-status={status}>
        {(status === 'running' || status === 'queued') && <span className="badge-pulse" aria-hidden="true" />}
        {labels[status]}
      </span>
      {status === 'queued' && waitingFor === 'worker' && (
        <span className="pill pill-warn" data-testid="waiting-for-worker" title="No live worker serves this model; the job runs once one starts.">
          waiting for a worker
        </span>
      )}
    </>
  );
}
