import type { ErrorCode, Job } from './types.ts';

/** Codes the client raises itself, with no answer from the API behind them. */
export type ClientErrorCode = 'NETWORK_ERROR' | 'WAIT_TIMEOUT' | 'INVALID_RESPONSE';

/**
 * Any failed call: the API's error code and HTTP status, or a client-side code with status 0.
 * Match `code`, never `message`.
 */
export class InferQError extends Error {
  readonly code: ErrorCode | ClientErrorCode;
  /** HTTP status; 0 when no answer came. */
  readonly status: number;
  readonly details: unknown;
  /** The server's X-Request-Id, to quote in a bug report. */
  readonly requestId: string | undefined;
  /**
   * WAIT_TIMEOUT: the job as last read. It was submitted and is not final (still `queued`, maybe
   * `waitingFor: "worker"`, or `running`); wait again with its `id`.
   */
  readonly job: Job | undefined;

  constructor(options: {
    code: ErrorCode | ClientErrorCode;
    status: number;
    message: string;
    details?: unknown;
    requestId?: string | undefined;
    job?: Job | undefined;
    cause?: unknown;
  }) {
    super(options.message, { cause: options.cause });
    this.name = 'InferQError';
    this.code = options.code;
    this.status = options.status;
    this.details = options.details;
    this.requestId = options.requestId;
    this.job = options.job;
  }
}

export function isInferQError(value: unknown): value is InferQError {
  return value instanceof InferQError;
}
