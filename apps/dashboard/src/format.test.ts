import { describe, expect, it } from 'vitest';
import { ApiError } from './api/apiTransport.ts';
import { describeError, formatAgo, formatBytes, formatDuration } from './format.ts';

describe('describeError', () => {
  it.each([
    ['RATE_LIMITED', 429, 12, 'rate limited — retry in 12 s'],
    ['QUEUE_FULL', 503, 5, 'queue full — retry in 5 s'],
    ['QUEUE_FULL', 503, null, 'queue full'],
    ['UNAUTHENTICATED', 401, null, 'signed out'],
    ['INVALID_IMAGE', 400, null, 'not a valid image'],
  ])('%s (%i, Retry-After %s) reads "%s"', (code, status, retryAfter, title) => {
    const described = describeError(
      new ApiError(status, code, 'message from the API', { retryAfterSeconds: retryAfter }),
    );
    expect(described).toEqual({ code, title, detail: 'message from the API', retryAfterSeconds: retryAfter });
  });

  it('names an unlisted code by itself rather than hiding it', () => {
    expect(describeError(new ApiError(400, 'SOMETHING_NEW', '')).title).toBe('something new');
  });

  it('treats anything that is not an API error as internal', () => {
    expect(describeError(new TypeError('boom')).code).toBe('INTERNAL');
  });
});

describe('formatDuration', () => {
  it.each([
    [null, '—'],
    [0, '0 ms'],
    [840.4, '840 ms'],
    [1400, '1.4 s'],
    [12_300, '12 s'],
    [125_000, '2 min 5 s'],
    [3 * 3600_000 + 120_000, '3 h 2 min'],
  ])('%s ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatAgo and formatBytes', () => {
  it('counts seconds and minutes back from now', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(formatAgo('2026-01-01T11:59:59.500Z', now)).toBe('just now');
    expect(formatAgo('2026-01-01T11:59:48Z', now)).toBe('12 s ago');
    expect(formatAgo('2026-01-01T11:55:00Z', now)).toBe('5 min ago');
  });

  it.each([
    [512, '512 B'],
    [2048, '2.0 KiB'],
    [5 * 1024 * 1024, '5.0 MiB'],
  ])('%i bytes → %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
