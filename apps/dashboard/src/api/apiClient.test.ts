import { describe, expect, it, vi } from 'vitest';
import { ApiClient } from './apiClient.ts';
import { ApiError, parseRetryAfter } from './apiTransport.ts';

const key = `iq_0123456789ab_${'a'.repeat(43)}`;

function answering(status: number, body: unknown, headers: Record<string, string> = {}) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetch = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json', ...headers },
    });
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls };
}

describe('ApiClient', () => {
  it('sends the key in the Authorization header only, never in the URL', async () => {
    const { fetch, calls } = answering(200, { data: [], nextCursor: null });
    await new ApiClient({ apiKey: key, fetch }).jobs.list({ status: 'failed', cursor: 'abc', limit: 15 });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe('/v1/jobs?status=failed&cursor=abc&limit=15');
    expect(calls[0]!.url).not.toContain(key);
    expect((calls[0]!.init.headers as Record<string, string>).Authorization).toBe(`Bearer ${key}`);
    expect(calls[0]!.init.credentials).toBe('omit');
  });

  it('turns an error body into an ApiError with its code, status and Retry-After', async () => {
    const { fetch } = answering(
      429,
      { error: { code: 'RATE_LIMITED', message: 'slow down', details: { limit: 60 } } },
      { 'Retry-After': '12' },
    );
    const error = await new ApiClient({ apiKey: key, fetch }).jobs.get('x').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 429, code: 'RATE_LIMITED', retryAfterSeconds: 12, details: { limit: 60 } });
  });

  it('reports a 401 to onUnauthorized (the session ends) and still throws', async () => {
    const { fetch } = answering(401, { error: { code: 'UNAUTHENTICATED', message: 'no' } });
    const onUnauthorized = vi.fn();
    await expect(new ApiClient({ apiKey: key, fetch, onUnauthorized }).account()).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it.each([
    [502, 'INTERNAL'],
    [404, 'BAD_REQUEST'],
  ])('gives a body that is not the error shape (%i) a code anyway', async (status, code) => {
    const fetch = vi.fn(async () => new Response('<html>', { status })) as unknown as typeof globalThis.fetch;
    await expect(new ApiClient({ apiKey: key, fetch }).account()).rejects.toMatchObject({ status, code });
  });

  it('reports a network failure as code NETWORK, status 0', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof globalThis.fetch;
    await expect(new ApiClient({ apiKey: key, fetch }).account()).rejects.toMatchObject({ status: 0, code: 'NETWORK' });
  });

  it('submits the image as multipart in the field "image"', async () => {
    const { fetch, calls } = answering(202, { id: 'j' });
    await new ApiClient({ apiKey: key, fetch }).jobs.submit(
      new Blob([new Uint8Array([1, 2, 3])], { type: 'image/png' }),
      { fileName: 'a.png' },
    );
    const body = calls[0]!.init.body as FormData;
    expect(calls[0]!.init.method).toBe('POST');
    expect((body.get('image') as File).size).toBe(3);
  });

  it.each([
    [
      'operators',
      (client: ApiClient) => client.operators.jobs({ userId: 'u', q: 'cat' }),
      '/v1/admin/jobs?userId=u&q=cat',
    ],
    ['models', (client: ApiClient) => client.models.traffic('nsfw'), '/v1/admin/models/nsfw/traffic'],
  ] as const)(
    'sends the %s calls through the same transport: base URL, key, and a 401 reported',
    async (_concern, call, path) => {
      const { fetch, calls } = answering(401, { error: { code: 'UNAUTHENTICATED', message: 'no' } });
      const onUnauthorized = vi.fn();
      await expect(
        call(new ApiClient({ apiKey: key, fetch, onUnauthorized, baseUrl: 'https://api.test' })),
      ).rejects.toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
      expect(calls[0]!.url).toBe(`https://api.test${path}`);
      expect((calls[0]!.init.headers as Record<string, string>).Authorization).toBe(`Bearer ${key}`);
      expect(onUnauthorized).toHaveBeenCalledTimes(1);
    },
  );
});

describe('parseRetryAfter', () => {
  it.each([
    ['12', 12],
    [' 3 ', 3],
    ['soon', null],
    [null, null],
  ])('%s → %s', (value, seconds) => {
    expect(parseRetryAfter(value)).toBe(seconds);
  });

  it('reads an HTTP date as seconds from now', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30);
  });
});
