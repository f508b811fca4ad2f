import { createParser } from 'eventsource-parser';

export type StreamState = 'connecting' | 'live' | 'offline' | 'unauthorized';

export interface LiveMessage {
  event: string;
  data: unknown;
}

export interface EventStreamOptions {
  url: string;
  /** Sent in the Authorization header: EventSource cannot send headers, so the stream is read with fetch. */
  apiKey: string;
  onMessage: (message: LiveMessage) => void;
  onState?: (state: StreamState) => void;
  /** @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
  /** Waits before reconnecting, by attempt; the last one repeats. @defaultValue [1000, 2000, 5000, 10000] */
  backoffMs?: readonly number[];
  /** Hook for tests: how to wait. @defaultValue setTimeout */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Reads the API's server-sent events over fetch and reconnects when the stream drops (with
 * backoff; the server's `retry:` is the floor), with `Last-Event-ID` (the id of the last job event
 * read), so the server replays what was missed meanwhile. A 401 stops it for good: the key is not
 * valid. Returns the function that closes it.
 */
export function openEventStream(options: EventStreamOptions): () => void {
  const controller = new AbortController();
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const backoff = options.backoffMs ?? [1000, 2000, 5000, 10_000];
  const sleep = options.sleep ?? defaultSleep;
  const setState = (state: StreamState) => options.onState?.(state);

  const run = async () => {
    let failures = 0;
    let serverRetryMs = 0;
    let lastEventId: string | undefined;
    while (!controller.signal.aborted) {
      setState('connecting');
      let gotEvents = false;
      try {
        const response = await doFetch(options.url, {
          headers: {
            Authorization: `Bearer ${options.apiKey}`,
            Accept: 'text/event-stream',
            ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}),
          },
          signal: controller.signal,
          credentials: 'omit',
          cache: 'no-store',
        });
        if (response.status === 401) {
          setState('unauthorized');
          return;
        }
        if (!response.ok || !response.body) throw new Error(`event stream answered ${response.status}`);
        const parser = createParser({
          onEvent: (event) => {
            gotEvents = true;
            if (event.id) lastEventId = event.id;
            if (event.event === 'ready') {
              failures = 0;
              setState('live');
            }
            let data: unknown;
            try {
              data = JSON.parse(event.data);
            } catch {
              return;
            }
            options.onMessage({ event: event.event ?? 'message', data });
          },
          onRetry: (ms) => {
            serverRetryMs = ms;
          },
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        void error; // reconnect below
      }
      if (controller.signal.aborted) return;
      setState('offline');
      const wait = Math.max(serverRetryMs, backoff[Math.min(failures, backoff.length - 1)] ?? 1000);
      if (!gotEvents) failures++;
      await sleep(wait, controller.signal);
    }
  };
  void run();
  return () => controller.abort();
}
