import type { AccountView } from '@inferq/core';
import { ApiTransport, type ApiClientOptions } from './apiTransport.ts';
import { EventsApi } from './eventsApi.ts';
import { JobsApi } from './jobsApi.ts';
import { ModelsApi } from './modelsApi.ts';
import { OperatorsApi } from './operatorsApi.ts';

/**
 * The dashboard's calls to the API, by concern, over one {@link ApiTransport} (the key, errors,
 * 401s): `jobs` (the caller's own, the routes clients use), `models`, `operators` (the
 * administrators' routes) and `events` (the live stream).
 */
export class ApiClient {
  readonly jobs: JobsApi;
  readonly models: ModelsApi;
  readonly operators: OperatorsApi;
  readonly events: EventsApi;
  readonly #transport: ApiTransport;

  constructor(options: ApiClientOptions) {
    this.#transport = new ApiTransport(options);
    this.jobs = new JobsApi(this.#transport);
    this.models = new ModelsApi(this.#transport);
    this.operators = new OperatorsApi(this.#transport);
    this.events = new EventsApi(this.#transport);
  }

  get apiKey(): string {
    return this.#transport.apiKey;
  }

  /** The key's user, tier and limits. */
  account(signal?: AbortSignal): Promise<AccountView> {
    return this.#transport.json('GET', '/v1/account', { signal });
  }
}
