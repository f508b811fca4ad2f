import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { BlobStore } from './blobStore.ts';
import { defaultBlockingMaxBytes, FileBlobStore } from './fileBlobStore.ts';
import { S3BlobStore } from './s3BlobStore.ts';

export interface BlobStoreSettings {
  /** `file:///var/lib/inferq/blobs` or `s3://bucket/prefix`. */
  url: string;
  /** S3 only: an S3-compatible endpoint (MinIO, R2, GCS interop). @defaultValue AWS S3 */
  endpoint?: string | undefined;
  /** S3 only. @defaultValue 'us-east-1' */
  region?: string | undefined;
  /** S3 only; both or neither. @defaultValue the SDK's default credential chain */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** S3 only: path-style addressing (MinIO, local servers). @defaultValue false */
  forcePathStyle?: boolean | undefined;
  /** file: only: blobs up to this size are written and read with blocking calls (FileBlobStoreOptions). @defaultValue 1 MiB */
  fileBlockingMaxBytes?: number | undefined;
  /** file: only: asked before each blocking call (FileBlobStoreOptions.mayBlock). @defaultValue always true */
  fileMayBlock?: (() => boolean) | undefined;
  /** file: only: writes that may not block go to a thread of their own (FileBlobStoreOptions.writerThread). @defaultValue false */
  fileWriterThread?: boolean | undefined;
}

/** The store a URL names: the filesystem driver for `file:`, the S3 driver for `s3:`. */
export function createBlobStore(settings: BlobStoreSettings): BlobStore {
  const url = new URL(settings.url);
  if (url.protocol === 'file:')
    return new FileBlobStore(fileURLToPath(url), {
      blockingMaxBytes: settings.fileBlockingMaxBytes,
      ...(settings.fileMayBlock ? { mayBlock: settings.fileMayBlock } : {}),
      writerThread: settings.fileWriterThread ?? false,
    });
  if (url.protocol === 's3:') {
    if (!url.hostname) throw new Error('BLOB_STORE_URL: an s3:// URL names its bucket (s3://bucket/prefix)');
    const credentials =
      settings.accessKeyId && settings.secretAccessKey
        ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey }
        : undefined;
    return new S3BlobStore({
      bucket: url.hostname,
      prefix: decodeURIComponent(url.pathname.replace(/^\/+/, '')),
      endpoint: settings.endpoint,
      region: settings.region,
      credentials,
      forcePathStyle: settings.forcePathStyle,
    });
  }
  throw new Error(`BLOB_STORE_URL: unsupported scheme ${url.protocol} (use file:// or s3://)`);
}

/** A folder as a file:// BLOB_STORE_URL (`pnpm start` keeps blobs in its data folder). */
export function fileBlobStoreUrl(folder: string): string {
  return new URL(`file://${path.resolve(folder)}/`).href;
}

const envFlag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

/**
 * The blob store's settings, shared by every process that reads or writes blobs (API, worker).
 * Apps extend their env schema with it; `blobStoreSettingsFromEnv` turns the parsed values into
 * createBlobStore's settings.
 */
export const blobStoreEnvShape = {
  BLOB_STORE_URL: z
    .string()
    .refine(
      (text) => text === 'postgres' || /^(file|s3):\/\//.test(text),
      'must be a file:// or s3:// URL, or postgres',
    )
    .optional()
    .describe(
      'Where job inputs (and uploads, and copies of results) are kept: file:///absolute/folder, s3://bucket/prefix for any S3-compatible store, or `postgres` (the job_inputs table: no shared folder or bucket needed, about 4 ms more CPU per 130 kB upload between API, worker and Postgres). Unset: the folder .inferq/blobs of the checkout (the processes of one host share it; the Docker image sets `postgres`, and hosts that do not share a folder set s3:// or `postgres`). The API and the workers must name the same store.',
    ),
  BLOB_STORE_ENDPOINT: z
    .string()
    .url()
    .optional()
    .describe('S3 only: the endpoint of an S3-compatible store (MinIO, R2, GCS interop); unset for AWS S3.'),
  BLOB_STORE_REGION: z.string().default('us-east-1').describe("S3 only: the bucket's region."),
  BLOB_STORE_ACCESS_KEY_ID: z
    .string()
    .optional()
    .describe(
      'S3 only: access key id; unset, the AWS default credential chain is used (environment, web identity, instance role).',
    ),
  BLOB_STORE_SECRET_ACCESS_KEY: z.string().optional().describe('S3 only: the secret of BLOB_STORE_ACCESS_KEY_ID.'),
  BLOB_STORE_FORCE_PATH_STYLE: envFlag
    .default(false)
    .describe(
      'S3 only: address the bucket in the path (endpoint/bucket/key), as MinIO and most self-hosted stores need.',
    ),
  BLOB_STORE_FILE_BLOCKING_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(defaultBlockingMaxBytes)
    .describe(
      "file:// only: blobs up to this many bytes are written and read with blocking calls on the process's main thread instead of a trip through the thread pool for each step (open, write, close, rename): for a 130 kB input on a local disk, 77 µs of CPU a write instead of 197, and 66 µs a read instead of 203 (`pnpm bench blobstore`). Larger blobs go through the pool. The API blocks only while its event loop was less than 80% busy over the last 100 ms; busier, it hands each write to a writer thread of its own, one message there and one back (26 µs of the event loop's CPU a 130 kB write, against 76 through the pool). 0: never block, for a folder on a network file system, where one call may wait on the network.",
    ),
};

export interface BlobStoreEnv {
  BLOB_STORE_URL?: string | undefined;
  BLOB_STORE_ENDPOINT?: string | undefined;
  BLOB_STORE_REGION: string;
  BLOB_STORE_ACCESS_KEY_ID?: string | undefined;
  BLOB_STORE_SECRET_ACCESS_KEY?: string | undefined;
  BLOB_STORE_FORCE_PATH_STYLE: boolean;
  BLOB_STORE_FILE_BLOCKING_MAX_BYTES?: number | undefined;
}

/**
 * The store of a process started with no BLOB_STORE_URL: the folder `.inferq/blobs` of the
 * checkout, so an API and workers started from it on one host share it (`pnpm start` names the
 * same folder under its data folder).
 */
export const defaultBlobStoreUrl = fileBlobStoreUrl(fileURLToPath(new URL('../../../.inferq/blobs', import.meta.url)));

/**
 * The settings of a parsed env: unset is the checkout's own folder (`defaultBlobStoreUrl`);
 * `postgres` is no store (inputs are kept in Postgres' job_inputs table).
 */
export function blobStoreSettingsFromEnv(env: BlobStoreEnv): BlobStoreSettings | undefined {
  if (env.BLOB_STORE_URL === 'postgres') return undefined;
  return {
    url: env.BLOB_STORE_URL ?? defaultBlobStoreUrl,
    endpoint: env.BLOB_STORE_ENDPOINT,
    region: env.BLOB_STORE_REGION,
    accessKeyId: env.BLOB_STORE_ACCESS_KEY_ID,
    secretAccessKey: env.BLOB_STORE_SECRET_ACCESS_KEY,
    forcePathStyle: env.BLOB_STORE_FORCE_PATH_STYLE,
    fileBlockingMaxBytes: env.BLOB_STORE_FILE_BLOCKING_MAX_BYTES,
  };
}
