import { checkBlobKey } from './blobStore.ts';

/**
 * The platform's names for its blobs. A job's input is named after the job, so every path that
 * deletes jobs (retention, an owner's deletion, an operator's clean) knows its blob from the id
 * alone, even after the row is gone.
 */
export const blobPrefixes = {
  inputs: 'inputs/',
  uploads: 'uploads/',
  results: 'results/',
} as const;

/** Where a job's input bytes are kept. */
export function inputBlobKey(jobId: string): string {
  return checkBlobKey(`${blobPrefixes.inputs}${jobId.toLowerCase()}`);
}

/** Where an upload of a user waits for its submit: under the user, so an id alone never reaches another's bytes. */
export function uploadBlobKey(userId: string, uploadId: string): string {
  return checkBlobKey(`${blobPrefixes.uploads}${userId.toLowerCase()}/${uploadId.toLowerCase()}`);
}

const resultPrefixPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** A result sink's prefix: path segments of `[A-Za-z0-9._-]` (not starting with a dot), at most 200 characters. */
export function isResultPrefix(prefix: string): boolean {
  return prefix.length <= 200 && resultPrefixPattern.test(prefix);
}

/** Where a job's result sink writes its result JSON: `results/<prefix>/<job id>.json`. */
export function resultSinkKey(jobId: string, prefix: string): string {
  return resultBlobKey(jobId, `${blobPrefixes.results}${prefix}`);
}

/** Where the copy of a job's result goes, under the sink's prefix (`results/` unless one is given). */
export function resultBlobKey(jobId: string, prefix: string = blobPrefixes.results): string {
  const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  return checkBlobKey(`${base}${jobId.toLowerCase()}.json`);
}
