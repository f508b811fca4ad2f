import { AppError } from '@inferq/core';

/** The blob store failed (inputs, uploads, results): nothing was stored, and a retry may succeed. */
export const storageUnavailable = (cause?: unknown) =>
  new AppError('STORAGE_UNAVAILABLE', 'The blob store is unavailable; nothing was stored. Try again shortly.', {
    retryAfterSeconds: 5,
    cause,
  });
