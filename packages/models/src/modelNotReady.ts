import { AppError } from '@inferq/core';

/**
 * Why a model that exists cannot be served. Sent as `details.reason` of a MODEL_NOT_READY error,
 * so callers and tests can tell the cases apart without reading the message.
 */
export const modelProblems = [
  'missing-manifest',
  'invalid-manifest',
  'manifest-mismatch',
  'missing-model-json',
  'invalid-model-json',
  'missing-weights',
  'hash-mismatch',
  'format-mismatch',
  'fetch-failed',
  'invalid-live',
  'load-failed',
  'output-mismatch',
  /** The model's format needs a backend this process does not run (a SavedModel on wasm). */
  'format-unsupported',
] as const;
export type ModelProblem = (typeof modelProblems)[number];

export interface ModelNotReadyDetails {
  location: string;
  reason: ModelProblem;
  issues?: unknown;
}

export function modelNotReady(location: string, reason: ModelProblem, message: string, options: { cause?: unknown; issues?: unknown } = {}): AppError {
  const details: ModelNotReadyDetails = { location, reason };
  if (options.issues !== undefined) details.issues = options.issues;
  return new AppError('MODEL_NOT_READY', message, { details, cause: options.cause });
}

/** The `details.reason` of a MODEL_NOT_READY error, or undefined for any other error. */
export function modelProblemOf(error: unknown): ModelProblem | undefined {
  if (!(error instanceof AppError) || error.code !== 'MODEL_NOT_READY') return undefined;
  const reason = (error.details as Partial<ModelNotReadyDetails> | undefined)?.reason;
  return modelProblems.includes(reason as ModelProblem) ? (reason as ModelProblem) : undefined;
}
