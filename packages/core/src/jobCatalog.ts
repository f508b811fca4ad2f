import { z } from 'zod';

/**
 * The one job catalog shared by the API (producer) and the worker (consumer): queue name, payload
 * schema and retry policy. The worker parses the payload again at dequeue, because jobs written by
 * an older API can still sit in Redis.
 */
export const inferenceQueueName = 'inference';

export const inferenceJobPayloadSchema = z.object({
  /** The job row's id; also the BullMQ job id, so enqueueing twice is harmless. */
  jobId: z.uuid(),
  model: z.string().min(1).max(64),
  /** Absent: the worker serves the live version of `model`. */
  modelVersion: z.string().min(1).max(64).optional(),
});

export type InferenceJobPayload = z.infer<typeof inferenceJobPayloadSchema>;

export interface InferenceJobPolicy {
  /** Tries before a job fails for good. @defaultValue 5 */
  attempts: number;
  /** First retry delay; doubles each time. @defaultValue 1000 */
  backoffMs: number;
  /** A job running longer than this fails with TIMEOUT. @defaultValue 60000 */
  timeoutMs: number;
}

export const defaultInferenceJobPolicy: InferenceJobPolicy = {
  attempts: 5,
  backoffMs: 1000,
  timeoutMs: 60_000,
};

/** BullMQ job options for one inference job; keeps Redis bounded by removing finished entries. */
export function inferenceJobOptions(jobId: string, policy: InferenceJobPolicy = defaultInferenceJobPolicy, priority?: number) {
  return {
    jobId,
    attempts: policy.attempts,
    backoff: { type: 'exponential' as const, delay: policy.backoffMs },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 24 * 3600, count: 10_000 },
    ...(priority !== undefined ? { priority } : {}),
  };
}
