// A file blob's write and read as blocking calls: what FileBlobStore runs on the calling thread
// for small blobs, and what its writer thread runs for it.
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BlobTooLargeError } from './blobStore.ts';

export const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Writes `body` to `temporary`, then renames it to `target`, so that a reader sees the whole blob
 * or none. The folder is made on the first write into it (or again after it was removed), not on
 * every write. Nothing is left at `temporary` when it throws.
 */
export function putBlocking(target: string, temporary: string, body: Uint8Array): void {
  try {
    try {
      writeFileSync(temporary, body);
    } catch (error) {
      if (!isMissing(error)) throw error;
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(temporary, body);
    }
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * Reads a file of at most `blockingMaxBytes`: 'larger' for a larger one (the caller reads it
 * through the pool), null for none.
 */
export function getBlocking(
  file: string,
  blockingMaxBytes: number,
  maxBytes: number | undefined,
): Buffer | null | 'larger' {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
  try {
    const { size } = fstatSync(fd);
    if (maxBytes !== undefined && size > maxBytes) throw new BlobTooLargeError(size, maxBytes);
    if (size > blockingMaxBytes) return 'larger';
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
