import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  BlobTooLargeError,
  checkBlobKey,
  checkBlobPrefix,
  type BlobInfo,
  type BlobStore,
  type PresignedPut,
  type PresignPutOptions,
  type PutBlobOptions,
} from './blobStore.ts';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Prepended to every key (`inferq/`); empty for the bucket's root. @defaultValue '' */
  prefix?: string;
  /** An S3-compatible endpoint (MinIO, R2, GCS interop); unset for AWS S3 itself. @defaultValue AWS */
  endpoint?: string | undefined;
  /** @defaultValue 'us-east-1' */
  region?: string | undefined;
  /** Static credentials; unset: the SDK's default chain (environment, web identity, instance role). @defaultValue the default chain */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** Address the bucket in the path (`endpoint/bucket/key`), as MinIO and most local servers need. @defaultValue false */
  forcePathStyle?: boolean | undefined;
}

const isNotFound = (error: unknown) =>
  error instanceof S3ServiceException &&
  (error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404);

/** Blobs in an S3-compatible bucket through the AWS SDK v3; uploads get presigned PUT URLs. */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3BlobStoreOptions) {
    this.#bucket = options.bucket;
    const prefix = options.prefix ?? '';
    this.#prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.client = new S3Client({
      region: options.region ?? 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      // Checksums only where the operation requires one: S3-compatible stores differ in the
      // trailing checksums they accept, and a presigned PUT cannot carry one the client computes.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  get location(): string {
    return `s3://${this.#bucket}/${this.#prefix}`;
  }

  #key(key: string): string {
    return `${this.#prefix}${checkBlobKey(key)}`;
  }

  async put(key: string, body: Buffer, options: PutBlobOptions = {}): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: this.#key(key),
        Body: body,
        ContentLength: body.byteLength,
        ContentType: options.contentType ?? 'application/octet-stream',
      }),
    );
  }

  async get(key: string, options: { maxBytes?: number } = {}): Promise<Buffer | null> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      const size = answer.ContentLength ?? 0;
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        // Not read: the connection is let go with the rest of the body.
        (answer.Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw new BlobTooLargeError(size, options.maxBytes);
      }
      const bytes = await answer.Body!.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async stat(key: string): Promise<BlobInfo | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    // DeleteObjects takes at most 1000 keys a request.
    for (let start = 0; start < keys.length; start += 1000) {
      const objects = keys.slice(start, start + 1000).map((key) => ({ Key: this.#key(key) }));
      const answer = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: objects, Quiet: true } }),
      );
      const failed = (answer.Errors ?? []).filter((error) => error.Code !== 'NoSuchKey');
      if (failed.length > 0)
        throw new Error(
          `the bucket kept ${failed.length} blobs it was told to delete (${failed[0]!.Code ?? 'unknown'})`,
        );
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: `${this.#prefix}${checkBlobPrefix(prefix)}`,
          ContinuationToken: token,
        }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key.slice(this.#prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<PresignedPut> {
    const command = new PutObjectCommand({
      Bucket: this.#bucket,
      Key: this.#key(key),
      ContentType: options.contentType,
      ContentLength: options.size,
    });
    // Content-Type and Content-Length are signed: the bucket refuses a PUT of another size or type.
    const url = await getSignedUrl(this.client, command, {
      expiresIn: options.expiresInSeconds,
      signableHeaders: new Set(['content-type', 'content-length']),
      unhoistableHeaders: new Set(['content-type', 'content-length']),
    });
    return { url, headers: { 'content-type': options.contentType, 'content-length': String(options.size) } };
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
