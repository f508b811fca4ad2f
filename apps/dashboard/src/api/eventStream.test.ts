import { describe, expect, it, vi } from 'vitest';
import { openEventStream, type LiveMessage, type StreamState } from './eventStream.ts';

const key = `iq_0123456789ab_${'b'.repeat(43)}`;

/** A response whose body yields the chunks, split wherever the test says. */
function streamResponse(chunks: string[], status = 200): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } });
}

function until(check: () => boolean): Promise<void> {
  return vi.waitFor(() => {
    if (!check()) throw new Error('not yet');
  });
}

describe('openEventStream', () => {
  it('parses events split across chunks, sends the key as a header and reconnects when the stream ends', async () => {
    const requests: RequestInit[] = [];
    const answers = [
      streamResponse([
        'retry: 10\nevent: ready\ndata: {"role":"user"}\n\n: ping\n\nevent: jo',
        'b\ndata: {"jobId":"a","status":"running"}\n',
        '\n',
      ]),
      streamResponse([
        'event: ready\ndata: {"role":"user"}\n\nevent: job\ndata: {"jobId":"a","status":"succeeded"}\n\n',
      ]),
    ];
    const fetch = vi.fn(async (_url: string | URL | Request, init?: RequestInit) => {
      requests.push(init ?? {});
      return answers.shift() ?? new Promise<Response>(() => {});
    }) as unknown as typeof globalThis.fetch;
    const messages: LiveMessage[] = [];
    const sleeps: number[] = [];
    const close = openEventStream({
      url: '/v1/events',
      apiKey: key,
      fetch,
      onMessage: (message) => messages.push(message),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    await until(() => messages.length === 4);
    close();
    expect(messages.map((message) => message.event)).toEqual(['ready', 'job', 'ready', 'job']);
    expect(messages[3]!.data).toEqual({ jobId: 'a', status: 'succeeded' });
    expect((requests[0]!.headers as Record<string, string>).Authorization).toBe(`Bearer ${key}`);
    // The server's retry (10 ms) is a floor; the client's first backoff step (1000 ms) is longer.
    expect(sleeps[0]).toBe(1000);
  });

  it('reconnects with Last-Event-ID, the id of the last job event read', async () => {
    const requests: RequestInit[] = [];
    const answers = [
      streamResponse([
        'event: ready\ndata: {"role":"user"}\n\nid: 17-0\nevent: job\ndata: {"jobId":"a","status":"running"}\n\n: ping\n\n',
      ]),
      streamResponse([
        'event: ready\ndata: {"role":"user","resumed":true}\n\nid: 17-1\nevent: job\ndata: {"jobId":"a","status":"succeeded"}\n\n',
      ]),
    ];
    const fetch = vi.fn(async (_url: string | URL | Request, init?: RequestInit) => {
      requests.push(init ?? {});
      return answers.shift() ?? new Promise<Response>(() => {});
    }) as unknown as typeof globalThis.fetch;
    const messages: LiveMessage[] = [];
    const close = openEventStream({
      url: '/v1/events',
      apiKey: key,
      fetch,
      onMessage: (message) => messages.push(message),
      sleep: async () => {},
    });
    await until(() => requests.length === 3);
    close();
    const header = (i: number) => (requests[i]!.headers as Record<string, string>)['Last-Event-ID'];
    expect([header(0), header(1), header(2)]).toEqual([undefined, '17-0', '17-1']);
    expect(
      messages
        .filter((message) => message.event === 'job')
        .map((message) => (message.data as { status: string }).status),
    ).toEqual(['running', 'succeeded']);
  });

  it('stops for good on 401 and says so', async () => {
    const fetch = vi.fn(async () => new Response(null, { status: 401 })) as unknown as typeof globalThis.fetch;
    const states: StreamState[] = [];
    openEventStream({
      url: '/v1/events',
      apiKey: key,
      fetch,
      onMessage: () => {},
      onState: (state) => states.push(state),
      sleep: async () => {},
    });
    await until(() => states.includes('unauthorized'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(states).toEqual(['connecting', 'unauthorized']);
  });

  it('backs off further while the server keeps failing, up to the last step', async () => {
    let calls = 0;
    const fetch = vi.fn(async () => {
      calls++;
      return calls <= 5 ? new Response(null, { status: 503 }) : new Promise<Response>(() => {});
    }) as unknown as typeof globalThis.fetch;
    const sleeps: number[] = [];
    const close = openEventStream({
      url: '/v1/events',
      apiKey: key,
      fetch,
      onMessage: () => {},
      backoffMs: [1, 2, 3],
      sleep: async (ms) => void sleeps.push(ms),
    });
    await until(() => calls === 6);
    close();
    expect(sleeps).toEqual([1, 2, 3, 3, 3]);
  });
});
