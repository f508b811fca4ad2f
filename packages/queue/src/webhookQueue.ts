import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  defaultWebhookRetryPolicy,
  webhookJobOptions,
  webhookQueueName,
  type WebhookJobPayload,
  type WebhookRetryPolicy,
} from '@inferq/core';

export interface WebhookQueueOptions {
  connection: Redis;
  /** BullMQ key prefix. @defaultValue "inferq" */
  prefix?: string;
  /** @defaultValue "webhooks" */
  name?: string;
  /** @defaultValue defaultWebhookRetryPolicy */
  policy?: WebhookRetryPolicy;
}

/**
 * The producer side of the webhook queue: whoever moves a job with a webhook to a final state
 * enqueues it here. The BullMQ id is derived from the job id, so a second enqueue while the first
 * is still pending (the dispatcher's sweep) is a no-op.
 */
export class WebhookQueue {
  readonly queue: Queue<WebhookJobPayload>;
  readonly #policy: WebhookRetryPolicy;

  constructor(options: WebhookQueueOptions) {
    this.#policy = options.policy ?? defaultWebhookRetryPolicy;
    this.queue = new Queue<WebhookJobPayload>(options.name ?? webhookQueueName, {
      connection: options.connection,
      prefix: options.prefix ?? 'inferq',
    });
    // Connection errors surface through the callers' awaits, not as crashes.
    this.queue.on('error', () => {});
  }

  /** Enqueues the delivery of one event of a job (`completed`: its final state). */
  async enqueue(jobId: string, event: 'started' | 'completed' = 'completed'): Promise<void> {
    await this.queue.add(
      'deliver',
      { jobId, deliveryId: randomUUID(), event },
      webhookJobOptions(jobId, this.#policy, event),
    );
  }

  /**
   * Enqueues a new delivery of a job's final state for an operator's redelivery: a new delivery id,
   * its attempts counted from 1 again, under a BullMQ id of its own derived from `operationId`, so
   * the same operation sent twice is enqueued once (while BullMQ keeps the entry: a day once done).
   * True when it was enqueued now.
   */
  async redeliver(jobId: string, operationId: string): Promise<boolean> {
    const options = webhookJobOptions(jobId, this.#policy);
    const id = `${options.jobId}-redeliver-${operationId}`;
    if (await this.queue.getJob(id)) return false;
    await this.queue.add('deliver', { jobId, deliveryId: randomUUID(), event: 'completed' }, { ...options, jobId: id });
    return true;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
