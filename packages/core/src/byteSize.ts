import { AppError } from './errors.ts';

const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/**
 * A byte count as a person reads it, in binary units: `512 bytes`, `10 MiB` (a whole number
 * stays whole), `45.0 MiB`, `1.5 GiB`. Error messages use it; `details` keep the raw numbers.
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

/**
 * IMAGE_TOO_LARGE with the sizes in the message ("The image is 45.0 MiB; the limit is 10 MiB.")
 * and as numbers in `details` (`bytes` when known, `maxBytes`). One wording for every path that
 * refuses an upload for its size.
 */
export function imageTooLargeError(maxBytes: number, bytes?: number): AppError {
  const message =
    bytes === undefined
      ? `The image is larger than the ${formatBytes(maxBytes)} limit.`
      : `The image is ${formatBytes(bytes)}; the limit is ${formatBytes(maxBytes)}.`;
  return new AppError('IMAGE_TOO_LARGE', message, {
    details: bytes === undefined ? { maxBytes } : { bytes, maxBytes },
  });
}
