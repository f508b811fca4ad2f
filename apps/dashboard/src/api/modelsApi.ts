import type { ModelComparison, ModelRollbackView, ModelsView, TrafficView } from '@inferq/core';
import type { ApiTransport } from './apiTransport.ts';

/** Models: the public catalog, and the operators' rollout views (traffic, comparison, rollbacks). */
export class ModelsApi {
  readonly #transport: ApiTransport;

  constructor(transport: ApiTransport) {
    this.#transport = transport;
  }

  /** Models, their versions, the live one, workers ready on each, and any swap under way. */
  list(signal?: AbortSignal): Promise<ModelsView> {
    return this.#transport.json('GET', '/v1/models', { signal });
  }

  /** A model's traffic split, the workers warm on each of its versions, and its latest rollbacks. */
  traffic(model: string, signal?: AbortSignal): Promise<TrafficView> {
    return this.#transport.json('GET', `/v1/admin/models/${encodeURIComponent(model)}/traffic`, { signal });
  }

  /** Two versions compared on the jobs they ran since the split was set. */
  compareVersions(model: string, baseline: string, candidate: string, signal?: AbortSignal): Promise<ModelComparison> {
    const query = new URLSearchParams({ baseline, candidate });
    return this.#transport.json('GET', `/v1/admin/models/${encodeURIComponent(model)}/compare?${query}`, { signal });
  }

  /** The latest automatic rollbacks over every model, newest first. */
  async rollbacks(signal?: AbortSignal): Promise<ModelRollbackView[]> {
    return (await this.#transport.json<{ rollbacks: ModelRollbackView[] }>('GET', '/v1/admin/rollbacks', { signal }))
      .rollbacks;
  }
}
