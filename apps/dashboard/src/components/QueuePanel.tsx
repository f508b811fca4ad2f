import type { QueueSnapshot, QueueState } from '@inferq/core';

/** The BullMQ states an operator watches, in the order a job moves through them. */
export const queueStates = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'completed',
  'failed',
] as const satisfies readonly QueueState[];
type Missing = Exclude<QueueState, (typeof queueStates)[number]>;
const complete: [Missing] extends [never] ? true : never = true;
void complete;

/**
 * Each BullMQ state as an operator reads it, and a line on what it means here. Every InferQ job has
 * a priority (the tier's), so queued jobs are nearly all "waiting (by priority)"; BullMQ's own name
 * stays in the tooltip and the data attributes.
 */
export const queueStateLabels: Record<QueueState, { label: string; hint: string }> = {
  waiting: { label: 'waiting (in order)', hint: 'queued, taken first in first out' },
  prioritized: { label: 'waiting (by priority)', hint: 'queued, highest priority taken first' },
  active: { label: 'taken by workers', hint: 'held or running now' },
  delayed: { label: 'retrying later', hint: 'a failed attempt, waiting out its backoff' },
  completed: { label: 'done', hint: 'kept in the queue for an hour' },
  failed: { label: 'failed for good', hint: 'kept in the queue for a day' },
};

/**
 * The queue's counts and cap, and bull-board's pause button: paused, workers take no new jobs
 * (running ones finish) and submissions still queue up.
 */
export function QueuePanel({
  snapshot,
  onPause,
  pausing = false,
}: {
  snapshot: QueueSnapshot;
  onPause?: (paused: boolean) => void;
  pausing?: boolean;
}) {
  const queued = snapshot.inSystem;
  const ratio = snapshot.cap ? Math.min(1, queued / snapshot.cap) : 0;
  return (
    <section className="card" aria-labelledby="queue-title" data-testid="queue-panel">
      <div className="card-head">
        <h2 id="queue-title">
          Queues <span className="mono muted">{snapshot.queue}.*</span>
        </h2>
        <div className="card-actions">
          {snapshot.paused ? (
            <span className="pill pill-warn">paused</span>
          ) : (
            <span className="pill pill-ok">running</span>
          )}
          {onPause && (
            <button
              type="button"
              className="button button-small"
              disabled={pausing}
              onClick={() => onPause(!snapshot.paused)}
              data-testid="pause-toggle"
            >
              {snapshot.paused ? '▶ Resume' : '❚❚ Pause'}
            </button>
          )}
        </div>
      </div>
      {snapshot.paused && (
        <p className="small warn-text">
          Paused: workers take no new jobs; running ones finish, and new submissions wait in the queue.
        </p>
      )}
      <div className="counts">
        {queueStates.map((state) => (
          <div key={state} className={`count count-${state}`} data-state={state} title={`BullMQ state: ${state}`}>
            <span className="count-value" data-testid={`count-${state}`}>
              {snapshot.counts[state].toLocaleString()}
            </span>
            <span className="count-label">{queueStateLabels[state].label}</span>
            <span className="count-hint">{queueStateLabels[state].hint}</span>
          </div>
        ))}
      </div>
      {snapshot.models && snapshot.models.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="model-queues">
            <thead>
              <tr>
                <th scope="col">Model queue</th>
                <th scope="col" className="num" title="waiting, in order or by priority">
                  Queued
                </th>
                <th scope="col" className="num" title="taken by workers, not yet preprocessing or in a batch">
                  Held
                </th>
                <th scope="col" className="num" title="preprocessing or in the batch running now">
                  Running
                </th>
                <th scope="col" className="num">
                  Workers
                </th>
              </tr>
            </thead>
            <tbody>
              {snapshot.models.map((entry) => (
                <tr key={entry.model} data-model={entry.model}>
                  <td data-label="Model queue">
                    <span className="mono">{entry.model}</span>
                    {entry.waitingFor === 'worker' && (
                      <span className="pill pill-warn" data-testid="queue-waiting-for-worker">
                        waiting for a worker
                      </span>
                    )}
                  </td>
                  <td data-label="Queued" className="num" data-testid={`queued-${entry.model}`}>
                    {(entry.counts.waiting + entry.counts.prioritized).toLocaleString()}
                  </td>
                  <td data-label="Held" className="num">
                    {entry.held}
                  </td>
                  <td data-label="Running" className="num">
                    {entry.running}
                  </td>
                  <td data-label="Workers" className="num">
                    {entry.workers}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="cap">
        <div className="meter-head">
          <span>Jobs in the system, against the global cap</span>
          <span className="meter-value" data-testid="cap">
            {queued.toLocaleString()} / {snapshot.cap !== null ? snapshot.cap.toLocaleString() : 'no cap'}
          </span>
        </div>
        {snapshot.cap !== null && (
          <div className={`meter-track meter-${ratio >= 1 ? 'full' : ratio >= 0.8 ? 'high' : 'ok'}`}>
            <div className="meter-fill" style={{ width: `${ratio * 100}%` }} />
          </div>
        )}
        {snapshot.cap !== null && ratio >= 1 && (
          <p className="small warn-text">Queue full: new submissions are refused with QUEUE_FULL.</p>
        )}
      </div>
    </section>
  );
}
