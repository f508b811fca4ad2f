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
    return this.#db.webhookDelivery.findMany({ where: { jobId }, orderBy: [{ createdAt: 'asc' }, { attempt: 'asc' }] });
  }

  /**
   * Jobs whose final-state webhook failed in a time range: an attempt made in it that got no 2xx,
   * and no attempt of that event that ever did. Oldest first, at most `limit`.
   */
  async failedInRange(options: { from: Date; to: Date; limit: number }): Promise<string[]> {
    const rows = await this.#db.$queryRaw<Array<{ job_id: string }>>`
      SELECT d.job_id::text AS job_id FROM webhook_deliveries d
       WHERE d.event = 'completed' AND d.created_at >= ${options.from} AND d.created_at < ${options.to}
         AND (d.status_code IS NULL OR d.status_code NOT BETWEEN 200 AND 299)
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries ok WHERE ok.job_id = d.job_id AND ok.event = 'completed' AND ok.status_code BETWEEN 200 AND 299)
       GROUP BY d.job_id ORDER BY min(d.created_at), d.job_id LIMIT ${options.limit}`;
    return rows.map((row) => row.job_id);
  }

  /** Of these jobs, the ones that have a webhook that asked for this event. */
  async withWebhook(jobIds: string[], event: 'started' | 'completed' = 'completed'): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const rows = await this.#db.job.findMany({
      where: { id: { in: jobIds }, webhookUrl: { not: null }, webhookEvents: { has: event } },
      select: { id: true },
    });
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
