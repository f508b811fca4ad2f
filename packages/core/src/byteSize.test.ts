import { describe, expect, it } from 'vitest';
import { formatBytes, imageTooLargeError } from './byteSize.ts';

describe('formatBytes', () => {
  it.each([
    [0, '0 bytes'],
    [1, '1 byte'],
    [1023, '1023 bytes'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 ** 2, '10 MiB'],
    [45 * 1024 ** 2, '45 MiB'],
    [47_185_921, '45.0 MiB'],
    [1.5 * 1024 ** 3, '1.5 GiB'],
  ])('%d → %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('imageTooLargeError', () => {
  it('says both sizes in words and keeps them as numbers in details', () => {
    const error = imageTooLargeError(10 * 1024 ** 2, 47_185_921);
    expect(error.code).toBe('IMAGE_TOO_LARGE');
    expect(error.message).toBe('The image is 45.0 MiB; the limit is 10 MiB.');
    expect(error.details).toEqual({ bytes: 47_185_921, maxBytes: 10 * 1024 ** 2 });
    expect(imageTooLargeError(10 * 1024 ** 2).message).toBe('The image is larger than the 10 MiB limit.');
  });
});
