import { z } from 'zod';

/**
 * The one job catalog shared by the API (producer) and the worker (consumer): queue name, payload
 * schema and retry policy. The worker parses the payload again at dequeue, because jobs written by
 * an older API can still sit in Redis.
 */
export const inferenceQueueName = 'inference';

/**
 * The BullMQ queue of one model's jobs: `<base>.<model>` (`inference.nsfw`). A queue per model is
 * how a worker takes only the jobs it can serve (BullMQ routes by queue, not by looking into jobs);
 * model names never contain a dot, so no model's queue is another's or the base's. Every queue name
 * of the platform is derived here.
 */
export function modelQueueName(model: string, base: string = inferenceQueueName): string {
  return `${base}.${model}`;
}

export const inferenceJobPayloadSchema = z.object({
  /** The job row's id; also the BullMQ job id, so enqueueing twice is harmless. */
  jobId: z.uuid(),
  model: z.string().min(1).max(64),
  /** Absent: the worker serves the live version of `model`. */
  modelVersion: z.string().min(1).max(64).optional(),
  /** W3C trace context of the submit's enqueue span, when the API traces; older payloads lack it. */
  traceparent: z.string().max(128).optional(),
  /**
   * A shadow run of the job on `modelVersion` (a traffic split's shadow): its result is stored
   * apart and never changes the job's row. Its queue entry's id is `shadowEntryId(jobId)`.
   */
  shadow: z.literal(true).optional(),
  /**
   * The API handed this job's model pixels over (the pixel store in Redis). Absent: none were,
   * and the worker does not ask for them.
   */
  pixels: z.literal(true).optional(),
});

/** The BullMQ job id of a job's shadow run (BullMQ ids may not contain ':'). */
export function shadowEntryId(jobId: string): string {
  return `${jobId}.shadow`;
}

/**
 * The BullMQ queue of one model's shadow runs: `<base>.<model>.shadow`. Shadows have a queue of
 * their own, not a low priority on the model's: a priority only orders waiting jobs, and a shadow
 * already running would take the CPU from the primaries behind it. A worker takes from this queue
 * only while its primaries of the model leave it idle (see the worker's shadow gate). Model names
 * never contain a dot, so this is never another model's queue.
 */
export function shadowQueueName(model: string, base: string = inferenceQueueName): string {
  return `${modelQueueName(model, base)}.shadow`;
}

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
export function inferenceJobOptions(
  jobId: string,
  policy: InferenceJobPolicy = defaultInferenceJobPolicy,
  priority?: number,
  shadow = false,
) {
  // A shadow run is tried once: its result is a measurement, not an answer anyone waits for.
  if (shadow)
    return {
      jobId: shadowEntryId(jobId),
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: { age: 3600, count: 1000 },
      ...(priority !== undefined ? { priority } : {}),
    };
  return {
    jobId,
    attempts: policy.attempts,
    backoff: { type: 'exponential' as const, delay: policy.backoffMs },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 24 * 3600, count: 10_000 },
    ...(priority !== undefined ? { priority } : {}),
  };
}

/**
 * The webhook queue: one BullMQ job per job that reached a final state with a webhook URL. The
 * dispatcher reads the job row and the owner's secret at each attempt, so the body is always the
 * current job view and a rotated secret applies to the next attempt.
 */
export const webhookQueueName = 'webhooks';

export const webhookJobPayloadSchema = z.object({
  jobId: z.uuid(),
  /** The same on every attempt (`InferQ-Delivery`, `webhook-id`), so receivers can drop duplicates. */
  deliveryId: z.uuid(),
  /** Which event: the job started running, or reached its final state (payloads from before the filter have none). */
  event: z.enum(['started', 'completed']).default('completed'),
});

export type WebhookJobPayload = z.infer<typeof webhookJobPayloadSchema>;

export interface WebhookRetryPolicy {
  /** Tries in all, the first included. @defaultValue 16 */
  attempts: number;
  /** Delay before the second try; doubles each time. @defaultValue 30000 */
  firstDelayMs: number;
  /** Longest delay between two tries. @defaultValue 10800000 (3 h) */
  maxDelayMs: number;
}

/** 30 s, 1 min, 2 min, … 2 h 8 min, then every 3 h: the 16th and last try comes about 22 h after the first. */
export const defaultWebhookRetryPolicy: WebhookRetryPolicy = {
  attempts: 16,
  firstDelayMs: 30_000,
  maxDelayMs: 3 * 3600_000,
};

/**
 * Delay before the next try after `attemptsMade` tries failed: capped exponential, shortened by up
 * to 10% at random (`jitter` in [0, 1)) so receivers that came back are not hit by every retry at once.
 */
export function webhookRetryDelayMs(
  attemptsMade: number,
  policy: WebhookRetryPolicy = defaultWebhookRetryPolicy,
  jitter = Math.random(),
): number {
  const exponential = policy.firstDelayMs * 2 ** Math.max(0, attemptsMade - 1);
  return Math.round(Math.min(exponential, policy.maxDelayMs) * (1 - 0.1 * jitter));
}

/**
 * BullMQ id of a job's webhook delivery: one per job and event, so a second enqueue (the sweep) is
 * a no-op. The final state's keeps the id it had before events existed.
 */
export function webhookJobId(jobId: string, event: 'started' | 'completed' = 'completed'): string {
  return event === 'completed' ? `webhook-${jobId}` : `webhook-${jobId}-${event}`;
}

export function webhookJobOptions(
  jobId: string,
  policy: WebhookRetryPolicy = defaultWebhookRetryPolicy,
  event: 'started' | 'completed' = 'completed',
) {
  return {
    jobId: webhookJobId(jobId, event),
    attempts: policy.attempts,
    // Computed by the dispatcher's backoffStrategy (webhookRetryDelayMs).
    backoff: { type: 'webhook' },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}
