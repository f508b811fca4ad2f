import { describe, expect, it } from 'vitest';
import { compareVersions, highestVersion } from '../src/index.ts';

describe('compareVersions', () => {
  it.each([
    ['1.9.0', '1.10.0'],
    ['1.10.0-rc.1', '1.10.0'],
    ['1.10.0-alpha', '1.10.0-beta'],
    ['1.0.0-rc.2', '1.0.0-rc.10'],
    ['v2', 'v10'],
    ['1', '1.0'],
    ['2024-05-01', '2024-06-01'],
    ['2024-12-31', '2025-01-01'],
    ['1.0', '1.a'],
    ['99999999999999999999', '100000000000000000000'],
  ])('%s < %s', (lower, higher) => {
    expect(compareVersions(lower, higher)).toBeLessThan(0);
    expect(compareVersions(higher, lower)).toBeGreaterThan(0);
  });

  it('treats equal strings as equal', () => {
    expect(compareVersions('1.2.3', '1.2.3')).toBe(0);
  });

  it('picks the highest of a list, or null for none', () => {
    expect(highestVersion(['1.2.0', '1.10.0', '1.9.9', '1.10.0-rc.1'])).toBe('1.10.0');
    expect(highestVersion([])).toBeNull();
  });
});
