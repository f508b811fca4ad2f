import { openEventStream, type EventStreamOptions } from './eventStream.ts';
import type { ApiTransport } from './apiTransport.ts';

/** The live event stream (`GET /v1/events`): the caller's job events, and for admins queue snapshots. */
export class EventsApi {
  readonly #transport: ApiTransport;

  constructor(transport: ApiTransport) {
    this.#transport = transport;
  }

  /** Opens the stream with this client's key ({@link openEventStream} reconnects it); returns the function that closes it. */
  open(options: Omit<EventStreamOptions, 'url' | 'apiKey' | 'fetch'>): () => void {
    return openEventStream({
      ...options,
      url: this.#transport.url('/v1/events'),
      apiKey: this.#transport.apiKey,
      fetch: this.#transport.fetch,
    });
  }
}
