/**
 * Terminology
 * - job: one image submitted for inference. Its Postgres row is the source of truth.
 * - attempt: one try of a job by a worker; a job may take several (retries, stalls).
 * - batch: the jobs a worker runs through the model in one call.
 * - model: a named network (`nsfw`, `mnist`); a model version is one immutable build of it.
 * - backend: the TensorFlow.js engine that runs a model (tensorflow-gpu, tensorflow, wasm, cpu).
 * - tier: an account's plan (free, pro), which sets its limits.
 * - quota: how many jobs an account may have queued or running at once.
 * - ttl: how long a job may wait to start (`ttlSeconds`); past it, a job that never started is
 *   `expired` (final, never run, not counted against the quota).
 * - execution deadline: how long one attempt may run (`Cancel-After`); past it, DEADLINE_EXCEEDED.
 */
export const jobStatuses = ['queued', 'running', 'succeeded', 'failed', 'canceled', 'expired'] as const;
export type JobStatus = (typeof jobStatuses)[number];

export const finalJobStatuses: readonly JobStatus[] = ['succeeded', 'failed', 'canceled', 'expired'];

export function isFinalStatus(status: JobStatus): boolean {
  return finalJobStatuses.includes(status);
}

/** The statuses of a job still on its way: queued or running (it counts against its owner's quota). */
export const inFlightJobStatuses: readonly JobStatus[] = ['queued', 'running'];

/** A UUID in its text form, as job, user and key ids are. Checked before any lookup by id. */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}

export const imageFormats = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'] as const;
export type ImageFormat = (typeof imageFormats)[number];
