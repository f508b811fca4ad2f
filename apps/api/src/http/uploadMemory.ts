import type { Request, RequestHandler, Response } from 'express';
import { type AppError, type FairShare, shareRefusal } from '@inferq/core';
import { principalOf } from './authenticate.ts';

const releaseKey = 'releaseUploadMemory';

/** Room in a multipart body for what is not the files: boundaries, part headers, the short fields. */
export const multipartOverheadBytes = 64 * 1024;

/**
 * Reserves the memory an upload will hold, from the process's budget of which one user holds at
 * most a share, before a byte of the body is read: its declared `Content-Length`, or the largest
 * body the route takes from this caller when it declares none (chunked; the parser stops it
 * there). So a refusal costs nothing: a body declared larger than the route takes is answered
 * `tooLarge` (413) at once, a user holding their share 429 CONCURRENCY_LIMITED, a full process
 * 503 SERVER_BUSY. The bytes are given back when the answer is sent (or the client goes away),
 * or earlier with {@link releaseUploadMemory}.
 *
 * Mount after authentication and before the body is parsed.
 */
export function reserveUploadMemory(share: FairShare, maxBodyBytes: (req: Request) => number, tooLarge: (maxBodyBytes: number) => AppError): RequestHandler {
  return (req, res, next) => {
    const max = maxBodyBytes(req);
    const header = req.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && Number.isSafeInteger(declared) && declared > max) {
      next(tooLarge(max));
      return;
    }
    const amount = declared !== undefined && Number.isSafeInteger(declared) ? declared : max;
    const lease = share.tryAcquire(principalOf(req).userId, amount);
    if (!lease.ok) {
      next(shareRefusal('uploadBytes', lease));
      return;
    }
    res.locals[releaseKey] = lease.release;
    res.once('close', lease.release);
    next();
  };
}

/**
 * Gives the upload's bytes back once its jobs are stored, and drops the request's hold on the
 * buffers, so a `Prefer: wait` that follows holds neither.
 */
export function releaseUploadMemory(req: Request, res: Response): void {
  (res.locals[releaseKey] as (() => void) | undefined)?.();
  req.file = undefined;
  req.files = undefined;
}
