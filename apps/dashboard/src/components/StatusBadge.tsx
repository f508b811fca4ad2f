import type { JobStatus } from '@inferq/core';

const labels: Record<JobStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  canceled: 'Canceled',
  expired: 'Expired',
};

/** `12 s`, `3 min`, `1.5 h`: an ETA as people say it. */
export function formatEta(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

interface StatusBadgeProps {
  status: JobStatus;
  waitingFor?: 'worker' | null | undefined;
  /** A queued job's place in its model's queue (1 is next). */
  queuePosition?: number | null | undefined;
  /** A queued job's estimated seconds to its result. */
  etaSeconds?: number | null | undefined;
}

/**
 * A job's status; a queued job says its place in the queue and its ETA when known, and, when its
 * model no live worker serves, that it waits for one.
 */
export function StatusBadge({ status, waitingFor, queuePosition, etaSeconds }: StatusBadgeProps) {
  return (
    <>
      <span className={`badge badge-${status}`} data-status={status}>
        {(status === 'running' || status === 'queued') && <span className="badge-pulse" aria-hidden="true" />}
        {labels[status]}
      </span>
      {status === 'queued' && queuePosition != null && (
        <span
          className="pill pill-info"
          data-testid="queue-position"
          title="Its place in its model's queue (1 is next), and when its result is expected from the model's measured throughput."
        >
          #{queuePosition}
          {etaSeconds != null ? ` · about ${formatEta(etaSeconds)}` : ''}
        </span>
      )}
      {status === 'queued' && waitingFor === 'worker' && (
        <span
          className="pill pill-warn"
          data-testid="waiting-for-worker"
          title="No live worker serves this model; the job runs once one starts."
        >
          waiting for a worker
        </span>
      )}
    </>
  );
}
