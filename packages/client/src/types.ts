import type { components } from './generated/openapi.ts';

/**
 * Terminology
 * - job: one image submitted for inference; `status` moves queued → running → succeeded | failed | canceled, or queued → expired when it did not start within its `ttlSeconds`.
 * - model / model version: the network that runs the job, and one immutable build of it.
 * - webhook: a URL the platform POSTs the job to once it is final, signed with your webhook secret.
 */
type Schemas = components['schemas'];

export type Job = Schemas['Job'];
/** A job changed status: what event streams send (`event: job`). */
export type JobEvent = Schemas['JobEvent'];
export type JobStatus = Job['status'];
export type JobList = Schemas['JobList'];
/** The answer to a batch submit: a job or an error per image, in order. */
export type Batch = Schemas['Batch'];
export type BatchItem = Schemas['BatchItem'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
export type WebhookDeliveryList = Schemas['WebhookDeliveryList'];
export type ErrorBody = Schemas['Error'];
/** The caller's account: user, tier limits and current usage. */
export type Account = Schemas['Account'];
/** What `deleteAccount` erased. */
export type AccountDeletion = Schemas['AccountDeletion'];
/** GET /v1/models: the models, their versions and readiness, and the workers that serve them. */
export type ModelList = Schemas['ModelList'];
export type Model = Schemas['Model'];
export type ModelVersion = Schemas['ModelVersion'];
/** An inference request of the Open Inference Protocol (`POST /v2/models/{name}/infer`). */
export type InferRequest = Schemas['InferRequest'];
export type InferInputTensor = Schemas['InferInputTensor'];
/** Its response: the outputs in the protocol's shape. */
export type InferResponse = Schemas['InferResponse'];
export type InferOutputTensor = Schemas['InferOutputTensor'];
/** A model's inputs and outputs as the protocol describes them (`GET /v2/models/{name}`). */
export type ModelMetadata = Schemas['ModelMetadata'];
/** A tensor model's output reading on a finished job (`job.result.reading`): classification, embedding, detection or raw. */
export type TensorReading = Schemas['TensorReading'];
/** Every error code the API answers with (see docs/api/rest.md). */
export type ErrorCode = Schemas['ErrorCode'];
/** Administrators: a bulk retry's selection, its body and answer, and a webhook redelivery's answer. */
export type JobSelection = Schemas['JobSelection'];
export type RetryJobsBody = Schemas['RetryJobsBody'];
export type RetryJobsResult = Schemas['RetryJobsResult'];
export type Redelivery = Schemas['Redelivery'];

export const finalStatuses: readonly JobStatus[] = ['succeeded', 'failed', 'canceled', 'expired'];

export function isFinal(job: Pick<Job, 'status'>): boolean {
  return finalStatuses.includes(job.status);
}

/**
 * The job's state as a person reads it: its status; for a queued job that no live worker can
 * take (`waitingFor: "worker"`: no worker serves its model) `queued · waiting for a worker`, and
 * otherwise its place and ETA when known (`queued · #3, about 12 s`).
 */
export function describeStatus(
  job: Pick<Job, 'status' | 'waitingFor'> & Partial<Pick<Job, 'queuePosition' | 'etaSeconds'>>,
): string {
  if (job.status !== 'queued') return job.status;
  if (job.waitingFor === 'worker') return 'queued · waiting for a worker';
  if (job.queuePosition == null) return 'queued';
  return `queued · #${job.queuePosition}${job.etaSeconds != null ? `, about ${formatSeconds(job.etaSeconds)}` : ''}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
