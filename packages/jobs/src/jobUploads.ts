import { randomUUID } from 'node:crypto';
import { tierOf, type Principal, type TierTable } from '@inferq/accounts';
import { AppError, imageTooLargeError, isAppError } from '@inferq/core';
import type { ImageLimits } from '@inferq/images';
import { BlobTooLargeError, uploadBlobKey, type BlobStore } from '@inferq/storage';
import { storageUnavailable } from './storageUnavailable.ts';
import { maxUploadBytes } from './submitInputs.ts';

export interface JobUploadsOptions {
  /** Where uploads are kept (BLOB_STORE_URL). @defaultValue none: uploads are refused */
  blobs?: BlobStore | undefined;
  /** The global limits; a tier may only lower maxBytes. */
  imageLimits: ImageLimits;
  tiers: TierTable;
  /** How long an upload may wait for its PUT and its submit. @defaultValue 900 */
  uploadTtlSeconds?: number | undefined;
}

/** What POST /v1/uploads answers: where to PUT (null: the API's own PUT route), and until when. */
export interface CreatedUpload {
  uploadId: string;
  /** A presigned PUT to the bucket; null when the store cannot presign (the filesystem driver). */
  presigned: { url: string; headers: Record<string, string> } | null;
  expiresAt: Date;
}

const uploadIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What an upload may declare itself as: an image type, or plain bytes (the format is sniffed from them anyway). */
const uploadContentTypePattern = /^(image\/[a-z0-9.+-]{1,60}|application\/octet-stream)$/i;
const uploadNotFound = () =>
  new AppError('UPLOAD_NOT_FOUND', 'No such upload: it was never PUT, has expired, or was submitted already.');

/**
 * A caller's uploads (POST /v1/uploads, then a PUT): made room for, taken in when the store cannot
 * presign, and read back once by the submit that names them (JobSubmission). Each upload lives in
 * the blob store under its owner's prefix. Returns data or throws AppError; knows nothing of HTTP.
 */
export class JobUploads {
  readonly #options: JobUploadsOptions;

  constructor(options: JobUploadsOptions) {
    this.#options = options;
  }

  /**
   * Makes room for one upload of the caller's: a fresh id under the caller's own prefix, and a
   * presigned PUT when the store has them (the bytes then never pass through the API). The
   * declared size is held to the caller's upload limit here, by the bucket's signature on the
   * PUT, and again when the upload is read at submit.
   */
  async create(principal: Principal, body: { contentType: string; size: number }): Promise<CreatedUpload> {
    const blobs = this.#uploadStore();
    if (!uploadContentTypePattern.test(body.contentType)) {
      throw new AppError(
        'VALIDATION_FAILED',
        'contentType must be an image type (image/jpeg, image/png, …) or application/octet-stream.',
        { details: { field: 'contentType' } },
      );
    }
    const maxBytes = this.#maxUploadBytes(principal);
    if (body.size > maxBytes) throw imageTooLargeError(maxBytes, body.size);
    const uploadId = randomUUID();
    const ttlSeconds = this.#options.uploadTtlSeconds ?? 900;
    let presigned: CreatedUpload['presigned'];
    try {
      presigned = await blobs.presignPut(uploadBlobKey(principal.userId, uploadId), {
        contentType: body.contentType,
        size: body.size,
        expiresInSeconds: ttlSeconds,
      });
    } catch (error) {
      throw storageUnavailable(error);
    }
    return { uploadId, presigned, expiresAt: new Date(Date.now() + ttlSeconds * 1000) };
  }

  /** Takes an upload's bytes through the API itself, for a store that cannot presign (the filesystem driver). */
  async put(principal: Principal, uploadId: string, bytes: Buffer): Promise<void> {
    const blobs = this.#uploadStore();
    const id = uploadId.toLowerCase();
    // With a bucket the PUT goes to the presigned URL, never here.
    if (blobs.kind !== 'file' || !uploadIdPattern.test(id)) throw uploadNotFound();
    const maxBytes = this.#maxUploadBytes(principal);
    if (bytes.byteLength > maxBytes) throw imageTooLargeError(maxBytes, bytes.byteLength);
    if (bytes.byteLength === 0)
      throw new AppError('VALIDATION_FAILED', 'The upload is empty.', { details: { field: 'body' } });
    try {
      await blobs.put(uploadBlobKey(principal.userId, id), bytes);
    } catch (error) {
      throw storageUnavailable(error);
    }
  }

  /**
   * The bytes of an upload of the user's, at most `maxBytes` of them, and its key (the submit
   * deletes it once its job is admitted). UPLOAD_NOT_FOUND when absent, expired or without a
   * blob store.
   */
  async read(userId: string, uploadId: string, maxBytes: number): Promise<{ bytes: Buffer; key: string }> {
    const blobs = this.#options.blobs;
    const id = uploadId.toLowerCase();
    if (!blobs || !uploadIdPattern.test(id)) throw uploadNotFound();
    const key = uploadBlobKey(userId, id);
    let bytes: Buffer | null;
    try {
      const info = await blobs.stat(key);
      if (!info || info.modifiedAt.getTime() < Date.now() - this.#uploadTtlMs) throw uploadNotFound();
      bytes = await blobs.get(key, { maxBytes });
    } catch (error) {
      if (error instanceof BlobTooLargeError) throw imageTooLargeError(maxBytes, error.size);
      if (isAppError(error)) throw error;
      throw storageUnavailable(error);
    }
    if (!bytes) throw uploadNotFound();
    return { bytes, key };
  }

  #maxUploadBytes(principal: Principal): number {
    return maxUploadBytes(this.#options.imageLimits, tierOf(principal.tier, this.#options.tiers));
  }

  /** The blob store uploads go to; without one there are no uploads. */
  #uploadStore(): BlobStore {
    const blobs = this.#options.blobs;
    if (!blobs)
      throw new AppError(
        'STORAGE_UNAVAILABLE',
        'Uploads need a blob store (BLOB_STORE_URL); send the image in the submit instead.',
      );
    return blobs;
  }

  get #uploadTtlMs(): number {
    return (this.#options.uploadTtlSeconds ?? 900) * 1000;
  }
}
