export {
  InferQClient,
  retryAfterMs,
  type InferQClientOptions,
  type RetryInfo,
  type EventStreamOptions,
  type JobEventMessage,
  type ListOptions,
  type SubmitManyOptions,
  type SubmitOptions,
  type Upload,
  type WaitOptions,
} from './inferqClient.ts';
export { InferQError, isInferQError, type ClientErrorCode } from './inferqError.ts';
export { toBlob, type ImageInput } from './imageBody.ts';
export { verifyWebhookSignature, type VerifyWebhookOptions, type WebhookHeaders } from './webhookSignature.ts';
export {
  describeStatus,
  finalStatuses,
  isFinal,
  type Account,
  type AccountDeletion,
  type Batch,
  type BatchItem,
  type ErrorBody,
  type ErrorCode,
  type Job,
  type JobEvent,
  type JobList,
  type JobStatus,
  type Model,
  type ModelList,
  type ModelVersion,
  type WebhookDelivery,
  type WebhookDeliveryList,
  type JobSelection,
  type RetryJobsBody,
  type RetryJobsResult,
  type Redelivery,
} from './types.ts';
export type { components, paths } from './generated/openapi.ts';
