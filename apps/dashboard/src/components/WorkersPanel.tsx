import type { WorkerHeartbeat } from '@inferq/core';
import { formatAgo } from '../format.ts';
import { useNow } from '../useNow.ts';
import { EmptyState } from './EmptyState.tsx';

/**
 * The engines a worker runs its models with (`onnxruntime-cpu`, `tfjs-wasm`, …), each once. The
 * TF.js backend alone (`wasm`) is what runs only the models whose engine is tfjs: shown beside
 * them, never as the worker's engine.
 */
export function workerEngines(worker: WorkerHeartbeat): string[] {
  const engines = [...new Set(worker.models.flatMap((model) => (model.engine ? [model.engine] : [])))];
  return engines.length > 0 ? engines.sort() : [`tfjs-${worker.backend}`];
}

export function WorkersPanel({ workers }: { workers: WorkerHeartbeat[] }) {
  const now = useNow(1000);
  return (
    <section className="card" aria-labelledby="workers-title" data-testid="workers-panel">
      <div className="card-head">
        <h2 id="workers-title">Workers</h2>
        <span className="muted small">{workers.length === 1 ? '1 process' : `${workers.length} processes`}</span>
      </div>
      {workers.length === 0 ? (
        <EmptyState title="No workers running" icon="○">
          Jobs wait in the queue until a worker starts: <code>node apps/worker/src/index.ts</code>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Worker</th>
                <th scope="col" title="The engine and provider running each model here">
                  Engines
                </th>
                <th scope="col">Models</th>
                <th scope="col" className="num">
                  Batch now
                </th>
                <th
                  scope="col"
                  className="num"
                  title="Per model: jobs held (taken, waiting to be preprocessed or for their batch) / running (preprocessing or in the batch running now)"
                >
                  Held / running
                </th>
                <th scope="col" className="num">
                  Done
                </th>
                <th scope="col">Heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {workers.map((worker) => (
                <tr key={worker.workerId} data-worker-id={worker.workerId}>
                  <td data-label="Worker">
                    <div className="cell-main">
                      <span className="dot dot-ok" aria-hidden="true" />
                      <span className="mono">{worker.workerId}</span>
                    </div>
                    <div className="muted small">
                      {worker.host} · pid {worker.pid}
                    </div>
                  </td>
                  <td data-label="Engines" data-testid="worker-engines">
                    {workerEngines(worker).map((engine) => (
                      <span key={engine} className="pill">
                        {engine}
                      </span>
                    ))}
                  </td>
                  <td data-label="Models">
                    <div className="model-pills">
                      {worker.models.map((model) => (
                        <span key={model.name} className="model-cell">
                          <span
                            className="pill pill-model"
                            title={
                              model.loaded && model.loaded.length > 1
                                ? `also loaded: ${model.loaded.filter((version) => version !== model.version).join(', ')}`
                                : undefined
                            }
                          >
                            {model.name}@{model.version}
                            {model.loaded && model.loaded.length > 1 ? ` +${model.loaded.length - 1}` : ''}
                            {model.engine ? <span className="muted"> · {model.engine}</span> : null}
                          </span>
                          {model.swap && (
                            <span
                              className={`pill ${model.swap.state === 'failed' ? 'pill-warn' : 'pill-info'}`}
                              title={model.swap.error?.message}
                              data-testid="swap-state"
                            >
                              {model.swap.state === 'loading'
                                ? `swapping to ${model.swap.to}…`
                                : `swap to ${model.swap.to} failed`}
                            </span>
                          )}
                        </span>
                      ))}
                    </div>
                  </td>
                  <td data-label="Batch now" className="num">
                    {worker.currentBatch}
                  </td>
                  <td data-label="Held / running" className="num" data-testid="held-running">
                    {worker.jobs && worker.jobs.length > 0
                      ? worker.jobs.map((entry) => (
                          <div key={entry.model} className="small" data-model={entry.model}>
                            <span className="muted">{entry.model}</span> {entry.held} / {entry.running}
                            <span className="muted"> of {entry.concurrency}</span>
                          </div>
                        ))
                      : worker.activeJobs}
                  </td>
                  <td data-label="Done" className="num">
                    {worker.jobsSucceeded.toLocaleString()}
                    {worker.jobsFailed > 0 && <span className="warn-text"> · {worker.jobsFailed} failed</span>}
                  </td>
                  <td data-label="Heartbeat">{formatAgo(worker.heartbeatAt, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
