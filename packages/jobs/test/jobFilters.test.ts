import { describe, expect, it } from 'vitest';
import type { JobRecord } from '@inferq/db';
import { decodeCursor, encodeCursor, parseAdminFilter, parseFilter, parseLimit } from '../src/jobFilters.ts';

const jobId = '0b6f2c1e-7a51-4c36-9d2e-3f1a8c5b9e04';

describe('parseLimit', () => {
  it.each([
    [undefined, 20],
    ['1', 1],
    ['100', 100],
  ])('%j is %j', (value, expected) => {
    expect(parseLimit(value)).toBe(expected);
  });

  it.each(['0', '101', '1e2', '0x10', ' 5', '5.0', ''])('refuses %j with VALIDATION_FAILED on limit', (value) => {
    expect(() => parseLimit(value)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { field: 'limit' } }),
    );
  });
});

describe('parseFilter', () => {
  it('reads each list and instant', () => {
    expect(
      parseFilter({
        status: 'queued,failed',
        model: 'mnist, nsfw',
        errorCode: 'INFERENCE_FAILED',
        createdAfter: '2026-12-06T09:00:00Z',
      }),
    ).toEqual({
      statuses: ['queued', 'failed'],
      models: ['mnist', 'nsfw'],
      versions: undefined,
      errorCodes: ['INFERENCE_FAILED'],
      createdAfter: new Date('2026-12-06T09:00:00Z'),
      createdBefore: undefined,
      metadata: undefined,
    });
  });

  it.each([
    [{ status: 'queued,done' }, 'status'],
    [{ model: 'a b' }, 'model'],
    [{ version: Array.from({ length: 21 }, (_, i) => `v${i}`).join(',') }, 'version'],
    [{ createdAfter: 'yesterday' }, 'createdAfter'],
    [{ createdBefore: '2026-13-45T99:00:00Z' }, 'createdBefore'],
  ])('refuses %j with VALIDATION_FAILED on %s', (input, field) => {
    expect(() => parseFilter(input)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: expect.objectContaining({ field }) }),
    );
  });
});

describe('parseAdminFilter', () => {
  it('adds the user and the free text, trimmed', () => {
    expect(parseAdminFilter({ userId: jobId, q: '  cat.jpg ' })).toMatchObject({ userId: jobId, text: 'cat.jpg' });
  });

  it.each([
    [{ userId: 'alice' }, 'userId'],
    [{ q: 'ab' }, 'q'],
    [{ q: 'x'.repeat(201) }, 'q'],
  ])('refuses %j with VALIDATION_FAILED on %s', (input, field) => {
    expect(() => parseAdminFilter(input)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { field } }),
    );
  });
});

describe('cursor', () => {
  it('gives back the (createdAt, id) it was made from', () => {
    const createdAt = new Date('2026-12-06T09:00:00.123Z');
    expect(decodeCursor(encodeCursor({ createdAt, id: jobId } as JobRecord))).toEqual({ createdAt, id: jobId });
  });

  it.each([
    'not base64 json',
    Buffer.from('{"a":1}').toString('base64url'),
    Buffer.from(JSON.stringify(['2026-12-06T09:00:00Z', 'not-a-uuid'])).toString('base64url'),
    Buffer.from(JSON.stringify(['+200000-01-01T00:00:00Z', jobId])).toString('base64url'),
  ])('refuses %j with VALIDATION_FAILED on cursor', (cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { field: 'cursor' } }),
    );
  });
});
