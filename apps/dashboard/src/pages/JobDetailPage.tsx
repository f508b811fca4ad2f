import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import type { JobView } from '@inferq/core';
import { useSignedIn } from '../auth/SessionContext.tsx';
import { ConfirmDialog } from '../components/ConfirmDialog.tsx';
import { EmptyState } from '../components/EmptyState.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { modelLabel } from '../components/JobsTable.tsx';
import { ScoresChart, scoresOf } from '../components/ScoresChart.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { TensorResult } from '../components/TensorResult.tsx';
import { formatBytes, formatDuration, formatPercent, formatTime } from '../format.ts';
import { useLiveState } from '../live/LiveEventsProvider.tsx';
import { useJobImageUrl } from '../useJobImageUrl.ts';

/** The job's input, fetched with the key and shown through an object URL (an <img> cannot send headers). */
export function JobImage({ job }: { job: JobView }) {
  const { url, error, broken, markBroken } = useJobImageUrl(job.id);

  if (error) return <ErrorNotice error={error} />;
  if (broken)
    return (
      <EmptyState title="No preview">This browser cannot show {job.input.format.toUpperCase()} images.</EmptyState>
    );
  if (!url) return <div className="skeleton skeleton-image" aria-busy="true" aria-label="Loading image" />;
  return (
    <img className="job-image" src={url} alt={`Input of job ${job.id}`} onError={markBroken} data-testid="job-image" />
  );
}

export function JobDetailPage() {
  const { id = '' } = useParams();
  const { client } = useSignedIn();
  const live = useLiveState();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const job = useQuery({
    queryKey: ['job', id],
    queryFn: ({ signal }) => client.jobs.get(id, signal),
    // Live events re-read the job when it changes; without them, poll while it is unfinished.
    refetchInterval: (query) =>
      live !== 'live' && ['queued', 'running'].includes(query.state.data?.status ?? '') ? 2000 : false,
  });
  const cancel = useMutation({
    mutationFn: () => client.jobs.cancel(id),
    onSuccess: (updated) => {
      queryClient.setQueryData(['job', id], updated);
      void queryClient.invalidateQueries({ queryKey: ['jobs'] });
    },
    onSettled: () => setConfirming(false),
  });

  if (job.error) {
    return (
      <div className="page">
        <Link to="/jobs" className="back">
          ← Jobs
        </Link>
        <ErrorNotice error={job.error} />
      </div>
    );
  }
  if (!job.data)
    return (
      <div className="page">
        <div className="skeleton" aria-busy="true" />
      </div>
    );
  const data = job.data;
  const cancellable = data.status === 'queued' || data.status === 'running';
  const tensorJob = data.input.format === 'tensor';
  const scores = data.result && !data.result.outputs ? scoresOf(data.result) : [];

  return (
    <div className="page">
      <Link to="/jobs" className="back">
        ← Jobs
      </Link>
      <div className="page-head page-head-row">
        <div>
          <h1 className="mono-title">
            Job <span className="mono">{data.id}</span>
          </h1>
          <div className="row">
            <StatusBadge
              status={data.status}
              waitingFor={data.waitingFor}
              queuePosition={data.queuePosition}
              etaSeconds={data.etaSeconds}
            />
            <span className="muted">{modelLabel(data)}</span>
            {data.input.fileName && (
              <span className="muted" data-testid="detail-file-name">
                · {data.input.fileName}
              </span>
            )}
          </div>
        </div>
        {cancellable && (
          <button
            type="button"
            className="button button-danger"
            onClick={() => setConfirming(true)}
            disabled={cancel.isPending}
          >
            {cancel.isPending ? 'Canceling…' : 'Cancel job'}
          </button>
        )}
      </div>
      <ConfirmDialog
        open={confirming && cancellable}
        title="Cancel this job?"
        confirmLabel="Cancel the job"
        danger
        busy={cancel.isPending}
        onConfirm={() => cancel.mutate()}
        onDismiss={() => setConfirming(false)}
      >
        {data.status === 'running'
          ? 'It is running: the attempt finishes, but its result is thrown away.'
          : 'It leaves the queue and never runs.'}{' '}
        A canceled job cannot be resumed; submit the image again to run it.
      </ConfirmDialog>
      {cancel.error && <ErrorNotice error={cancel.error} onDismiss={() => cancel.reset()} />}
      <div className="grid grid-detail">
        {tensorJob ? (
          <section className="card" aria-labelledby="image-title">
            <div className="card-head">
              <h2 id="image-title">Input</h2>
              <span className="muted small">Tensors · {formatBytes(data.input.bytes)}</span>
            </div>
            <p className="muted">Sent through the inference protocol (POST /v2/models/{data.model.name}/infer).</p>
          </section>
        ) : (
          <section className="card" aria-labelledby="image-title">
            <div className="card-head">
              <h2 id="image-title">Image</h2>
              <span className="muted small">
                {data.input.format.toUpperCase()} · {data.input.width}×{data.input.height} ·{' '}
                {formatBytes(data.input.bytes)}
              </span>
            </div>
            <JobImage job={data} />
          </section>
        )}
        <section className="card" aria-labelledby="result-title">
          <div className="card-head">
            <h2 id="result-title">Result</h2>
            {scores[0] && (
              <span className="pill" data-testid="top-label">
                {scores[0].label} · {formatPercent(scores[0].score)}
              </span>
            )}
          </div>
          {data.status === 'succeeded' && data.result?.outputs ? (
            <TensorResult result={data.result} />
          ) : data.status === 'succeeded' && data.result ? (
            <ScoresChart scores={scores} />
          ) : data.status === 'failed' && data.error ? (
            <div className="notice notice-error" role="alert" data-code={data.error.code}>
              <div className="notice-body">
                <strong className="notice-title">The job failed</strong>
                <span className="notice-detail">{data.error.message}</span>
                <code className="notice-code">{data.error.code}</code>
              </div>
            </div>
          ) : data.status === 'canceled' ? (
            <EmptyState title="Canceled" icon="⊘">
              This job was canceled before it produced a result.
            </EmptyState>
          ) : data.status === 'expired' ? (
            <EmptyState title="Expired" icon="⌛">
              This job did not start within its ttl
              {data.deadlines.startBy ? ` (start by ${formatTime(data.deadlines.startBy)})` : ''}; it never ran and did
              not count against your quota.
            </EmptyState>
          ) : (
            <EmptyState title={data.status === 'running' ? 'Running…' : 'Waiting in the queue…'} icon="◌">
              The result appears here as soon as a worker finishes; no need to reload.
            </EmptyState>
          )}
          <dl className="facts">
            <dt>Submitted</dt>
            <dd>{formatTime(data.createdAt)}</dd>
            <dt>Started</dt>
            <dd>{formatTime(data.startedAt)}</dd>
            <dt>Finished</dt>
            <dd>{formatTime(data.finishedAt)}</dd>
            <dt>Queue wait</dt>
            <dd>{formatDuration(data.timings.queueWaitMs)}</dd>
            <dt title="Taken by a worker until its model batch started: preprocessing and the wait for the batch">
              Held
            </dt>
            <dd data-testid="held">{formatDuration(data.timings.heldMs)}</dd>
            <dt>Inference</dt>
            <dd>{formatDuration(data.timings.inferenceMs)}</dd>
            <dt>End to end</dt>
            <dd>{formatDuration(data.timings.totalMs)}</dd>
            <dt>Attempts</dt>
            <dd data-testid="attempts">{data.attempts}</dd>
          </dl>
        </section>
      </div>
      {data.result && (
        <details className="card raw">
          <summary>Raw output</summary>
          <pre data-testid="raw-output">{JSON.stringify(data.result, null, 2)}</pre>
        </details>
      )}
    </div>
  );
}
