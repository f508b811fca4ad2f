import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, dependencyRetryAfterSeconds, isAppError } from '@inferq/core';
import { isDatabaseUnavailable } from '@inferq/db';

/** Turns anything thrown by a handler into the one error shape. */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (isDatabaseUnavailable(error)) {
    return new AppError('DATABASE_UNAVAILABLE', 'The database is unavailable. Try again shortly.', {
      retryAfterSeconds: dependencyRetryAfterSeconds,
      cause: error,
    });
  }
  const bodyParserError = error as { type?: string; status?: number; expose?: boolean };
  if (bodyParserError?.type === 'entity.too.large')
    return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
  if (bodyParserError?.type === 'entity.parse.failed')
    return new AppError('BAD_REQUEST', 'The request body is not valid JSON.');
  // body-parser marks its client errors `expose`; the router's URIError for a path parameter that
  // is not valid percent-encoding only carries status 400.
  if (
    (bodyParserError?.expose || error instanceof URIError) &&
    typeof bodyParserError.status === 'number' &&
    bodyParserError.status < 500
  ) {
    return new AppError('BAD_REQUEST', 'The request is malformed.', { cause: error });
  }
  return new AppError('INTERNAL', 'Internal server error.', { cause: error });
}

export const errorHandler: ErrorRequestHandler = (error, req, res, _next) => {
  const appError = toAppError(error);
  const log = req.log;
  if (appError.code === 'INTERNAL') log?.error({ err: error }, 'request failed');
  else if (appError.status >= 500)
    log?.warn({ code: appError.code, err: appError.cause ?? error }, 'dependency unavailable');
  else log?.warn({ code: appError.code }, appError.message);
  if (res.headersSent) return;
  res.locals.errorCode = appError.code; // for the metrics of refused requests
  // The one place that turns an error's retry hint into the header.
  if (appError.retryAfterSeconds !== undefined) res.set('Retry-After', String(appError.retryAfterSeconds));
  res.status(appError.status).json(appError.toBody());
};

export const notFoundHandler: RequestHandler = (_req, _res, next) => {
  next(new AppError('NOT_FOUND', 'No such route.'));
};
