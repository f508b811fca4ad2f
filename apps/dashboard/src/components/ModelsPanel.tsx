import type { ModelListing } from '@inferq/core';
import { formatTime } from '../format.ts';
import { EmptyState } from './EmptyState.tsx';

export function ModelsPanel({ listing }: { listing: ModelListing }) {
  return (
    <section className="card" aria-labelledby="models-title" data-testid="models-panel">
      <div className="card-head">
        <h2 id="models-title">Models</h2>
      </div>
      {listing.models.length === 0 ? (
        <EmptyState title="No models in the registry">
          Import the default one with <code>pnpm models:import</code>.
        </EmptyState>
      ) : (
        <ul className="models">
          {listing.models.map((model) => (
            <li key={model.name} className="model">
              <div className="model-head">
                <strong>{model.name}</strong>
                {model.liveVersion ? <span className="pill pill-ok">live {model.liveVersion}</span> : <span className="pill pill-warn">no live version</span>}
              </div>
              <ul className="versions">
                {model.versions.map((version) => (
                  <li key={version.version} className={version.live ? 'version version-live' : 'version'}>
                    <span className="mono">{version.version}</span>
                    <span className="muted small">{formatTime(version.createdAt)}</span>
                    {version.labels.length > 0 && <span className="muted small">{version.labels.join(', ')}</span>}
                  </li>
                ))}
              </ul>
              {model.problems.map((problem) => (
                <p key={problem.version} className="small warn-text">
                  {problem.version}: {problem.message}
                </p>
              ))}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
