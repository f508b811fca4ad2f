export { JobCommands, type JobCommandsOptions } from './jobCommands.ts';
export {
  parseAdminFilter,
  type AdminJobFilterInput,
  type JobFilterInput,
  type JobListInput,
  type JobPage,
} from './jobFilters.ts';
export { etaSeconds, JobReads, type JobReadsOptions, type QueueStatus } from './jobReads.ts';
export { JobSubmission, type InputFetchOptions, type JobSubmissionOptions } from './jobSubmission.ts';
export { JobUploads, type CreatedUpload, type JobUploadsOptions } from './jobUploads.ts';
export * from './jobWaiter.ts';
export * from './modelCatalog.ts';
export * from './operatorService.ts';
export * from './queueOperations.ts';
export { defaultMaxQueuedJobs, type QueueAdmissionOptions } from './queueAdmission.ts';
export * from './replayOperations.ts';
export {
  maxCancelAfterSeconds,
  maxTtlSeconds,
  parseCancelAfter,
  parseTtlSeconds,
  type BatchImage,
  type BatchItemResult,
  type InputReference,
  type SubmitBatchInput,
  type SubmitJobInput,
  type SubmitJobResult,
  type SubmitTensorsInput,
  type SubmitTensorsResult,
} from './submitInputs.ts';
export * from './recentJobs.ts';
