import type { ModelsView } from '@inferq/core';
import { formatTime } from '../format.ts';
import { EmptyState } from './EmptyState.tsx';

type ModelView = ModelsView['models'][number];

/** The swap of a model, in words: how far it got, and the workers whose load failed. */
export function swapSummary(model: ModelView): { text: string; failed: boolean } | null {
  const swap = model.swap;
  if (!swap) return null;
  const parts = [`${swap.switched} of ${model.workers} switched`];
  if (swap.loading > 0) parts.push(`${swap.loading} loading`);
  if (swap.failures.length > 0) parts.push(`${swap.failures.length} failed`);
  return { text: `swap to ${swap.to}: ${parts.join(', ')}`, failed: swap.failures.length > 0 };
}

export function ModelsPanel({ view }: { view: ModelsView }) {
  return (
    <section className="card" aria-labelledby="models-title" data-testid="models-panel">
      <div className="card-head">
        <h2 id="models-title">Models</h2>
      </div>
      {view.models.length === 0 ? (
        <EmptyState title="No models in the registry">
          Import the default one with <code>pnpm models:import</code>.
        </EmptyState>
      ) : (
        <ul className="models">
          {view.models.map((model) => {
            const swap = swapSummary(model);
            return (
              <li key={model.name} className="model">
                <div className="model-head">
                  <strong>{model.name}</strong>
                  {model.liveVersion ? (
                    <span className="pill pill-ok">live {model.liveVersion}</span>
                  ) : (
                    <span className="pill pill-warn">no live version</span>
                  )}
                  {model.workers === 0 ? (
                    <span
                      className="pill pill-warn"
                      data-testid="no-workers"
                      title="No live worker serves this model: its jobs wait queued until one starts."
                    >
                      0 workers
                    </span>
                  ) : (
                    <span className="muted small">
                      {model.workers} worker{model.workers === 1 ? '' : 's'}
                    </span>
                  )}
                  {swap && (
                    <span className={`pill ${swap.failed ? 'pill-warn' : 'pill-info'}`} data-testid="model-swap">
                      {swap.text}
                    </span>
                  )}
                </div>
                <ul className="versions">
                  {model.versions.map((version) => (
                    <li key={version.version} className={version.live ? 'version version-live' : 'version'}>
                      <span className="mono">{version.version}</span>
                      <span className="muted small">{formatTime(version.createdAt)}</span>
                      <span className="small">ready on {version.workersReady}</span>
                      {version.engines.map((engine) => (
                        <span
                          key={engine}
                          className="pill"
                          data-testid="version-engine"
                          title="The engine and provider running this version"
                        >
                          {engine}
                        </span>
                      ))}
                      {version.labels && version.labels.length > 0 && (
                        <span className="muted small">{version.labels.join(', ')}</span>
                      )}
                    </li>
                  ))}
                </ul>
                {model.swap?.failures.map((failure) => (
                  <p key={`${failure.workerId}-${failure.version}`} className="small warn-text">
                    {failure.workerId} could not load {failure.version}: {failure.message} ({failure.code})
                  </p>
                ))}
                {model.problems.map((problem) => (
                  <p key={problem.version} className="small warn-text">
                    {problem.version}: {problem.message}
                  </p>
                ))}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
