import { describe, expect, it } from 'vitest';
import { tiers } from '@inferq/accounts';
import { defaultImageLimits } from '@inferq/images';
import { batchImageKey, checkIdempotencyKey, imageLimitsOf, maxUploadBytes } from '../src/submitInputs.ts';

describe('the caller image limits', () => {
  it("are the platform's where the tier allows more, and the tier's where it allows less", () => {
    const platform = { ...defaultImageLimits, maxBytes: 8_000_000, maxPixels: 20_000_000 };
    const free = { ...tiers.free, maxUploadBytes: 5_000_000, maxPixels: 30_000_000 };
    expect(maxUploadBytes(platform, free)).toBe(5_000_000);
    expect(imageLimitsOf(platform, free)).toEqual({ ...platform, maxBytes: 5_000_000, maxPixels: 20_000_000 });
  });
});

describe('checkIdempotencyKey', () => {
  it.each([undefined, 'a', '!~', 'k'.repeat(255)])('takes %j', (key) => {
    expect(() => checkIdempotencyKey(key, 255)).not.toThrow();
  });

  it.each(['', 'with space', 'é', 'k'.repeat(256)])('refuses %j with VALIDATION_FAILED on the header', (key) => {
    expect(() => checkIdempotencyKey(key, 255)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { header: 'Idempotency-Key' } }),
    );
  });

  it("leaves room in a batch's key for what each image's key adds", () => {
    expect(() => checkIdempotencyKey('k'.repeat(241), 240)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
    // The space cannot be in a client's key, so no single submit can name a batch's image.
    expect(() => checkIdempotencyKey(batchImageKey('K', 0), 255)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
  });
});
