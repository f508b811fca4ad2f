import { finalJobStatuses } from '@inferq/core';
import type { Database } from './client.ts';

export interface WebhookAttempt {
  jobId: string;
  /** The delivery's id, sent as `webhook-id` and `InferQ-Delivery`: the same on each of its attempts. */
  deliveryId?: string;
  /** `started` or `completed`. @defaultValue 'completed' */
  event?: 'started' | 'completed';
  attempt: number;
  url: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number | null;
}

/** The record of every webhook delivery attempt, shown to the job's owner. */
export class WebhookDeliveryStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async record(attempt: WebhookAttempt) {
    return this.#db.webhookDelivery.create({
      data: { ...attempt, error: attempt.error?.slice(0, 1000) ?? null },
    });
  }

  async listForJob(jobId: string) {
    return this.#db.webhookDelivery.findMany({ where: { jobId }, orderBy: [{ attempt: 'asc' }, { createdAt: 'asc' }] });
  }

  /** Of these jobs, the ones that have a webhook that asked for this event. */
  async withWebhook(jobIds: string[], event: 'started' | 'completed' = 'completed'): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const rows = await this.#db.job.findMany({ where: { id: { in: jobIds }, webhookUrl: { not: null }, webhookEvents: { has: event } }, select: { id: true } });
    return rows.map((row) => row.id);
  }

  /**
   * Final jobs whose webhook asked for their final state and has no attempt of it yet, finished inside the window: the ones
   * whose enqueue was lost (Redis down at that moment) or that were finished outside a worker.
   */
  async findUndelivered(options: { finishedAfter: Date; finishedBefore: Date; limit: number }): Promise<string[]> {
    const rows = await this.#db.job.findMany({
      where: {
        webhookUrl: { not: null },
        webhookEvents: { has: 'completed' },
        status: { in: [...finalJobStatuses] },
        finishedAt: { gt: options.finishedAfter, lt: options.finishedBefore },
        webhookDeliveries: { none: { event: 'completed' } },
      },
      select: { id: true },
      orderBy: { finishedAt: 'asc' },
      take: options.limit,
    });
    return rows.map((row) => row.id);
  }
}

export type WebhookDeliveryRecord = Awaited<ReturnType<WebhookDeliveryStore['record']>>;
