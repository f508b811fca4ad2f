import { describe, expect, it } from 'vitest';
import { isAppError } from '@inferq/core';
import { parseCancelAfter, parseTtlSeconds } from '../src/index.ts';

describe('parseTtlSeconds', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['1', 1],
    [' 300 ', 300],
    [604800, 604800],
  ])('%j is %j', (value, expected) => {
    expect(parseTtlSeconds(value)).toBe(expected);
  });

  it.each(['0', '-1', '1.5', '1e3', '0x10', 'soon', '604801', 0, 1.5, Number.NaN])(
    'refuses %j with VALIDATION_FAILED on ttlSeconds',
    (value) => {
      const error = (() => {
        try {
          parseTtlSeconds(value);
        } catch (caught) {
          return caught;
        }
      })();
      expect(isAppError(error) && [error.code, (error.details as { field: string }).field]).toEqual([
        'VALIDATION_FAILED',
        'ttlSeconds',
      ]);
    },
  );
});

describe('parseCancelAfter', () => {
  it.each([
    [undefined, undefined],
    ['90', 90_000],
    ['1.5', 1500],
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2.5s', 2500],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['24h', 86_400_000],
    [30, 30_000],
  ])('%j is %j ms', (value, expected) => {
    expect(parseCancelAfter(value)).toBe(expected);
  });

  it.each(['later', '0.05', '50ms', '25h', '5 minutes', 'm', 's', '1d', '-5', '30m1h'])(
    'refuses %j with VALIDATION_FAILED on cancelAfter',
    (value) => {
      expect(() => parseCancelAfter(value)).toThrow(
        expect.objectContaining({
          code: 'VALIDATION_FAILED',
          details: expect.objectContaining({ field: 'cancelAfter' }),
        }),
      );
    },
  );
});
