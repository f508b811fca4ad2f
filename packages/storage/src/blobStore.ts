/**
 * Blob storage: the bytes the platform keeps outside Postgres (job inputs, uploads waiting for
 * their submit, copies of results), behind one interface with two drivers, the local filesystem
 * (`FileBlobStore`, the embedded default) and any S3-compatible bucket (`S3BlobStore`).
 *
 * Terminology:
 * - key: a blob's name inside the store, a relative path of safe characters (`inputs/<job id>`);
 *   the driver adds its own root (a folder, a bucket prefix).
 * - upload: bytes a client PUTs before it submits a job that names them (`uploads/<user>/<id>`).
 * - presigned PUT: a URL the client sends the bytes to directly, so they never pass through the
 *   API process (S3 only; with the filesystem driver the API takes the PUT itself).
 */
export interface BlobStore {
  /** `file` or `s3`, as shown to operators. */
  readonly kind: 'file' | 's3';
  /** Where the blobs are, without credentials (`file:///var/lib/inferq/blobs`, `s3://bucket/prefix`). */
  readonly location: string;
  /** Writes a blob whole, replacing any blob of that key. */
  put(key: string, body: Buffer, options?: PutBlobOptions): Promise<void>;
  /** A blob's bytes; null when there is none. Throws BlobTooLargeError past `maxBytes`, without reading the rest. */
  get(key: string, options?: { maxBytes?: number }): Promise<Buffer | null>;
  /** A blob's size and last change; null when there is none. */
  stat(key: string): Promise<BlobInfo | null>;
  /** Removes blobs; a key with no blob is no error. */
  delete(keys: readonly string[]): Promise<void>;
  /** Every key under `prefix` (`inputs/`), in no particular order. */
  list(prefix: string): Promise<string[]>;
  /**
   * A URL that takes one PUT of `size` bytes of `contentType` to `key` until `expiresInSeconds`
   * pass, with the headers the PUT must carry; null when the driver has none (the filesystem: the
   * API takes the PUT itself).
   */
  presignPut(key: string, options: PresignPutOptions): Promise<PresignedPut | null>;
  /** Lets go of connections. */
  close(): Promise<void>;
}

export interface PutBlobOptions {
  /** Stored with the blob where the driver keeps it (S3). @defaultValue application/octet-stream */
  contentType?: string;
}

export interface PresignPutOptions {
  contentType: string;
  size: number;
  expiresInSeconds: number;
}

export interface PresignedPut {
  url: string;
  /** Headers the PUT must send exactly as given (they are part of the signature). */
  headers: Record<string, string>;
}

export interface BlobInfo {
  size: number;
  modifiedAt: Date;
}

/** A blob larger than the reader would take; thrown before the bytes past the limit are read. */
export class BlobTooLargeError extends Error {
  readonly size: number;
  readonly maxBytes: number;

  constructor(size: number, maxBytes: number) {
    super(`the blob holds ${size} bytes, more than ${maxBytes}`);
    this.name = 'BlobTooLargeError';
    this.size = size;
    this.maxBytes = maxBytes;
  }
}

const keyPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/**
 * Refuses a key that could leave the store's root or mean different things to the two drivers:
 * only `[A-Za-z0-9._-]` segments that do not start with a dot, joined by single slashes.
 */
export function checkBlobKey(key: string): string {
  if (key.length > 512 || !keyPattern.test(key)) throw new Error(`not a blob key: ${JSON.stringify(key.slice(0, 80))}`);
  return key;
}

/** A prefix for `list`: empty, or a key followed by a slash. */
export function checkBlobPrefix(prefix: string): string {
  if (prefix !== '' && (!prefix.endsWith('/') || !keyPattern.test(prefix.slice(0, -1))))
    throw new Error(`not a blob prefix: ${JSON.stringify(prefix.slice(0, 80))}`);
  return prefix;
}
