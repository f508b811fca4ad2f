import type { Request, RequestHandler } from 'express';
import multer, { type StorageEngine } from 'multer';
import { AppError, imageTooLargeError, isAppError } from '@inferq/core';

export interface UploadOptions {
  /** Largest file accepted from anyone, in bytes (MAX_UPLOAD_BYTES). @defaultValue 10 MiB */
  maxFileBytes: number;
  /**
   * The caller's own limit (their tier's), at most `maxFileBytes`: the parser stops reading at
   * it, so a 5 MiB tier is refused at 5 MiB without 10 MiB being buffered. @defaultValue maxFileBytes
   */
  maxFileBytesFor?: (req: Request) => number;
}

export interface BatchUploadOptions extends UploadOptions {
  /** Images one request of this caller may carry (their tier's maxBatchImages). */
  maxFilesFor: (req: Request) => number;
  /**
   * Bytes of all the files together that one request may hold (what was reserved for it);
   * past it the request is refused 413 PAYLOAD_TOO_LARGE.
   */
  maxTotalBytesFor: (req: Request) => number;
}

export function payloadTooLarge(maxBytes: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `The request body is larger than ${maxBytes} bytes.`, {
    details: { maxBytes },
  });
}

/** A file of a batch that was larger than the caller's limit: its bytes were read and dropped. */
export interface OversizedFile {
  tooLarge: true;
  size: number;
}

const multerCodes: Record<string, () => AppError> = {
  LIMIT_FIELD_KEY: () => new AppError('BAD_REQUEST', 'A form field name is too long.'),
  LIMIT_FIELD_VALUE: () => new AppError('BAD_REQUEST', 'A form field value is too long.'),
  LIMIT_FIELD_COUNT: () => new AppError('BAD_REQUEST', 'Too many form fields.'),
  LIMIT_PART_COUNT: () => new AppError('BAD_REQUEST', 'Too many form parts.'),
  LIMIT_FILE_COUNT: () => new AppError('BAD_REQUEST', 'Send exactly one file, in the field "image".'),
  LIMIT_UNEXPECTED_FILE: () => new AppError('BAD_REQUEST', 'Send the file in the field "image" only.'),
};

// 16 KiB a field: the metadata field (20 keys of 40 and values of 500 characters, as JSON) is the
// longest; the body as a whole is still bounded by the upload memory reserved for it.
const fieldLimits = { fields: 8, fieldSize: 16 * 1024, fieldNameSize: 100, headerPairs: 100 };
/**
 * Browsers send a file name as raw UTF-8 bytes without `filename*`; busboy's default, latin1,
 * would turn `café.jpg` into `cafÃ©.jpg`.
 */
const defParamCharset = 'utf8';

export function imageTooLarge(maxBytes: number): AppError {
  return imageTooLargeError(maxBytes);
}

/** One parser per limit: a handful of tiers means a handful of instances. */
function cached<T>(make: (key: string) => T): (key: string) => T {
  const made = new Map<string, T>();
  return (key) => {
    let value = made.get(key);
    if (!value) made.set(key, (value = make(key)));
    return value;
  };
}

function requireMultipart(req: Request): AppError | undefined {
  return req.is('multipart/form-data')
    ? undefined
    : new AppError('MISSING_IMAGE', 'Send the image as multipart/form-data in the field "image".');
}

/** busboy's and multer's errors as ours. */
function uploadError(error: unknown, maxBytes: number, files: number): AppError {
  if (isAppError(error)) return error;
  if (error instanceof multer.MulterError) {
    if (error.code === 'LIMIT_FILE_SIZE') return imageTooLarge(maxBytes);
    if (files > 1 && (error.code === 'LIMIT_FILE_COUNT' || error.code === 'LIMIT_UNEXPECTED_FILE')) {
      return new AppError('VALIDATION_FAILED', `Send at most ${files} images, each a part named "image".`, {
        details: { field: 'image', maxBatchImages: files },
      });
    }
    if (error.code === 'LIMIT_FIELD_VALUE' && error.field === 'metadata') {
      return new AppError('INVALID_METADATA', `metadata is longer than ${fieldLimits.fieldSize} bytes.`, {
        details: { field: 'metadata', reason: 'too_large' },
      });
    }
    const make = multerCodes[error.code];
    return make ? make() : new AppError('BAD_REQUEST', 'The upload is malformed.');
  }
  // busboy's own errors: malformed multipart (bad boundary, truncated body, bad headers).
  return new AppError('BAD_REQUEST', 'The multipart body is malformed.', { cause: error });
}

/**
 * multer in memory with hard limits: one file, a few short fields. The bytes stay in memory
 * because they are validated and then written to Postgres; nothing touches the disk.
 */
export function imageUpload(options: UploadOptions): RequestHandler {
  const parserFor = cached((key) =>
    multer({
      storage: multer.memoryStorage(),
      defParamCharset,
      limits: { ...fieldLimits, fileSize: Number(key), files: 1, parts: 10 },
    }).single('image'),
  );
  return (req, res, next) => {
    const notMultipart = requireMultipart(req);
    if (notMultipart) return next(notMultipart);
    const maxBytes = Math.min(options.maxFileBytes, options.maxFileBytesFor?.(req) ?? options.maxFileBytes);
    parserFor(String(maxBytes))(req, res, (error: unknown) =>
      next(error ? uploadError(error, maxBytes, 1) : undefined),
    );
  };
}

/**
 * Keeps each file in memory up to `maxBytes`; a larger one is read to its end and dropped, and
 * stands in `req.files` as an {@link OversizedFile}, so one image too large fails only itself.
 * All the files of one request together hold at most `maxTotalBytesFor(req)`.
 */
function boundedMemoryStorage(maxBytes: number, maxTotalBytesFor: (req: Request) => number): StorageEngine {
  const held = new WeakMap<Request, number>();
  return {
    _handleFile(req, file, callback) {
      const chunks: Buffer[] = [];
      let size = 0;
      /** Bytes of this file counted in `held`. */
      let kept = 0;
      let failed = false;
      const maxTotal = maxTotalBytesFor(req);
      file.stream.on('data', (chunk: Buffer) => {
        if (failed) return;
        size += chunk.length;
        if (size > maxBytes) {
          held.set(req, (held.get(req) ?? 0) - kept);
          kept = 0;
          chunks.length = 0;
          return;
        }
        chunks.push(chunk);
        kept += chunk.length;
        const total = (held.get(req) ?? 0) + chunk.length;
        held.set(req, total);
        if (total > maxTotal) {
          failed = true;
          chunks.length = 0;
          file.stream.resume();
          callback(payloadTooLarge(maxTotal));
        }
      });
      file.stream.once('error', (error) => {
        if (!failed) callback(error);
        failed = true;
      });
      file.stream.once('end', () => {
        if (failed) return;
        if (size > maxBytes) callback(null, { tooLarge: true, size } as Partial<Express.Multer.File>);
        else callback(null, { buffer: Buffer.concat(chunks, size), size });
      });
    },
    _removeFile(_req, file, callback) {
      delete (file as Partial<Express.Multer.File>).buffer;
      callback(null);
    },
  };
}

/** Up to the caller's maxBatchImages files, all in the field "image", each within the caller's byte limit. */
export function imageBatchUpload(options: BatchUploadOptions): RequestHandler {
  const parserFor = cached((key) => {
    const [maxBytes, files] = key.split(':').map(Number) as [number, number];
    return multer({
      storage: boundedMemoryStorage(maxBytes, options.maxTotalBytesFor),
      defParamCharset,
      limits: { ...fieldLimits, files, parts: files + fieldLimits.fields },
    }).array('image', files);
  });
  return (req, res, next) => {
    const notMultipart = requireMultipart(req);
    if (notMultipart) return next(notMultipart);
    const maxBytes = Math.min(options.maxFileBytes, options.maxFileBytesFor?.(req) ?? options.maxFileBytes);
    const files = options.maxFilesFor(req);
    parserFor(`${maxBytes}:${files}`)(req, res, (error: unknown) =>
      next(error ? uploadError(error, maxBytes, files) : undefined),
    );
  };
}
