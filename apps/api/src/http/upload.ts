import type { RequestHandler } from 'express';
import multer from 'multer';
import { AppError } from '@inferq/core';

export interface UploadOptions {
  /** Largest file accepted, in bytes. @defaultValue 10 MiB */
  maxFileBytes: number;
}

const multerCodes: Record<string, () => AppError> = {
  LIMIT_FIELD_KEY: () => new AppError('BAD_REQUEST', 'A form field name is too long.'),
  LIMIT_FIELD_VALUE: () => new AppError('BAD_REQUEST', 'A form field value is too long.'),
  LIMIT_FIELD_COUNT: () => new AppError('BAD_REQUEST', 'Too many form fields.'),
  LIMIT_PART_COUNT: () => new AppError('BAD_REQUEST', 'Too many form parts.'),
  LIMIT_FILE_COUNT: () => new AppError('BAD_REQUEST', 'Send exactly one file, in the field "image".'),
  LIMIT_UNEXPECTED_FILE: () => new AppError('BAD_REQUEST', 'Send the file in the field "image" only.'),
};

/**
 * multer in memory with hard limits: one file, a few short fields. The bytes stay in memory
 * because they are validated and then written to Postgres; nothing touches the disk.
 */
export function imageUpload(options: UploadOptions): RequestHandler {
  const upload = multer({
    storage: multer.memoryStorage(),
    // Browsers send a file name as raw UTF-8 bytes without `filename*`; busboy's default, latin1,
    // would turn `café.jpg` into `cafÃ©.jpg`.
    defParamCharset: 'utf8',
    limits: {
      fileSize: options.maxFileBytes,
      files: 1,
      fields: 8,
      fieldSize: 4096,
      fieldNameSize: 100,
      parts: 10,
      headerPairs: 100,
    },
  }).single('image');

  return (req, res, next) => {
    if (!req.is('multipart/form-data')) {
      next(new AppError('MISSING_IMAGE', 'Send the image as multipart/form-data in the field "image".'));
      return;
    }
    upload(req, res, (error: unknown) => {
      if (!error) return next();
      if (error instanceof multer.MulterError) {
        if (error.code === 'LIMIT_FILE_SIZE') {
          return next(
            new AppError('IMAGE_TOO_LARGE', `The image is larger than ${options.maxFileBytes} bytes.`, {
              details: { maxBytes: options.maxFileBytes },
            }),
          );
        }
        const make = multerCodes[error.code];
        return next(make ? make() : new AppError('BAD_REQUEST', 'The upload is malformed.'));
      }
      // busboy's own errors: malformed multipart (bad boundary, truncated body, bad headers).
      next(new AppError('BAD_REQUEST', 'The multipart body is malformed.', { cause: error }));
    });
  };
}
