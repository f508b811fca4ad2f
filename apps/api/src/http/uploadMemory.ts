import type { Request, RequestHandler, Response } from 'express';
import type { FairQueue } from '@inferq/admission';
import type { AppError } from '@inferq/core';
import { principalOf } from './authenticate.ts';
import { queueTurn, waitForTurn } from './fairTurn.ts';

const releaseKey = 'releaseUploadMemory';

/** Room in a multipart body for what is not the files: boundaries, part headers, the short fields. */
export const multipartOverheadBytes = 64 * 1024;

/**
 * Reserves the memory an upload will hold, from the process's budget, before a byte of the body
 * is read: its declared `Content-Length`, or the largest body the route takes from this caller
 * when it declares none (chunked; the parser stops it there). A body declared larger than the
 * route takes is answered `tooLarge` (413) at once. When the budget is spoken for, the request
 * waits its fair turn in its user's queue (its body unread, so waiting costs a socket), and is
 * answered 429 CONCURRENCY_LIMITED or 503 SERVER_BUSY only if the turn does not come within the
 * queue's bound. The bytes are given back when the answer is sent (or the client goes away), or
 * earlier with {@link releaseUploadMemory}.
 *
 * Mount after authentication and before the body is parsed.
 */
export function reserveUploadMemory(
  queue: FairQueue,
  maxBodyBytes: (req: Request) => number,
  tooLarge: (maxBodyBytes: number) => AppError,
  weightOf: (req: Request) => number = () => 1,
): RequestHandler {
  return (req, res, next) => {
    const max = maxBodyBytes(req);
    const header = req.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && Number.isSafeInteger(declared) && declared > max) {
      next(tooLarge(max));
      return;
    }
    const amount = declared !== undefined && Number.isSafeInteger(declared) ? declared : max;
    waitForTurn(
      res,
      next,
      queueTurn(queue, { resource: 'uploadBytes', flow: principalOf(req).userId, amount, weight: weightOf(req) }),
      releaseKey,
    );
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
