/**
 * The closed list of error codes the platform answers with, and the one place that maps each code
 * to an HTTP status. Clients and tests match `code`, never `message`.
 */
export const errorStatus = {
  // 400: the request itself is wrong
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  MISSING_IMAGE: 400,
  INVALID_IMAGE: 400,
  UNSUPPORTED_FORMAT: 415,
  IMAGE_DIMENSIONS: 422,
  IMAGE_TOO_LARGE: 413,
  PAYLOAD_TOO_LARGE: 413,
  UNKNOWN_MODEL: 400,
  /** An image sent to a tensor model (POST /v1/jobs), or tensors to an image model (/v2). */
  MODEL_KIND_MISMATCH: 400,
  /** A tensor of the wrong name, datatype, shape or element count, or an inference request that is not the protocol's. */
  INVALID_TENSOR: 400,
  INVALID_JOB_ID: 400,
  INVALID_WEBHOOK_URL: 400,
  /** An `imageUrl` the outbound guard refuses (`details.reason`); it was never fetched. */
  INVALID_INPUT_URL: 400,
  /** An `imageUrl` that could not be fetched (not found, an HTTP error, a redirect, too large, too slow); `details.reason`. */
  INPUT_FETCH_FAILED: 422,
  /** An `uploadId` with no upload of the caller's behind it (never PUT, expired, or used already). */
  UPLOAD_NOT_FOUND: 404,
  /** Submit metadata that is not a JSON object of at most 20 short string keys and values (`details.reason` says which limit). */
  INVALID_METADATA: 400,
  /** A destructive request (DELETE /v1/account) without the confirmation it needs. */
  CONFIRMATION_REQUIRED: 400,
  /** An Idempotency-Key of an earlier submit sent again with another image or model. */
  IDEMPOTENCY_KEY_REUSED: 422,
  // 401/403/404/409
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  JOB_FINISHED: 409,
  CONFLICT: 409,
  // 408/431: answered by the HTTP server before routing (slow or oversized request head)
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  // 429: the caller is over a limit
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  // The caller holds their whole share of one of this API process's resources (submissions in
  // progress, buffered upload bytes, decode pixels, event streams; `details.resource` says which).
  CONCURRENCY_LIMITED: 429,
  // 5xx: the platform cannot take the work now
  QUEUE_FULL: 503,
  // This API process holds as many live event streams as it takes.
  TOO_MANY_STREAMS: 503,
  // This API process is validating and storing MAX_CONCURRENT_SUBMITS submissions already; nothing was stored.
  SERVER_BUSY: 503,
  QUEUE_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  /** The blob store (BLOB_STORE_URL) did not take or give the bytes; nothing was stored. */
  STORAGE_UNAVAILABLE: 503,
  MODEL_NOT_READY: 503,
  // A model format this process cannot serve (a SavedModel where @tensorflow/tfjs-node is not installed).
  MODEL_FORMAT_UNSUPPORTED: 422,
  INTERNAL: 500,
  // Job failure codes: stored on a failed job, never an HTTP answer by themselves
  INPUT_MISSING: 422,
  INFERENCE_FAILED: 500,
  PREPROCESSING_FAILED: 422,
  TIMEOUT: 504,
  // The job's queue entry was lost (e.g. Redis restarted) and the job was too old to run again.
  JOB_LOST: 500,
  // No live worker served the job's model within NO_WORKER_TIMEOUT_MS; the job waited queued until then.
  NO_WORKER: 503,
  // The job did not start within its ttlSeconds: its status is `expired`, it never ran.
  EXPIRED: 410,
  // An attempt ran past the job's execution deadline (Cancel-After) and was stopped.
  DEADLINE_EXCEEDED: 504,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export const errorCodes = Object.keys(errorStatus) as ErrorCode[];

export function statusForCode(code: ErrorCode): number {
  return errorStatus[code];
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** An expected failure with a stable code. Services throw it; the HTTP layer maps it. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  /**
   * When the caller may try again, in seconds (the HTTP layer answers it as `Retry-After`);
   * undefined when trying again will not help.
   */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: unknown; retryAfterSeconds?: number | undefined; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get status(): number {
    return statusForCode(this.code);
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.details !== undefined) body.error.details = this.details;
    return body;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** How long a caller waits before retrying while a dependency (Redis, Postgres) is down. */
export const dependencyRetryAfterSeconds = 5;

/** Redis cannot take or answer a queue command now; nothing was changed. The one QUEUE_UNAVAILABLE. */
export function queueUnavailable(cause?: unknown): AppError {
  return new AppError('QUEUE_UNAVAILABLE', 'The job queue is unavailable; nothing was changed. Try again shortly.', {
    retryAfterSeconds: dependencyRetryAfterSeconds,
    cause,
  });
}
