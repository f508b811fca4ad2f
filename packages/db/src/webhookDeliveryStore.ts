import { finalJobStatuses } from '@inferq/core';
import type { Database } from './client.ts';

export interface WebhookAttempt {
  jobId: string;
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

  /** Of these jobs, the ones that have a webhook. */
  async withWebhook(jobIds: string[]): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const rows = await this.#db.job.findMany({ where: { id: { in: jobIds }, webhookUrl: { not: null } }, select: { id: true } });
    return rows.map((row) => row.id);
  }

  /**
   * Final jobs with a webhook and no delivery attempt yet, finished inside the window: the ones
   * whose enqueue was lost (Redis down at that moment) or that were finished outside a worker.
   */
  async findUndelivered(options: { finishedAfter: Date; finishedBefore: Date; limit: number }): Promise<string[]> {
    const rows = await this.#db.job.findMany({
      where: {
        webhookUrl: { not: null },
        status: { in: [...finalJobStatuses] },
        finishedAt: { gt: options.finishedAfter, lt: options.finishedBefore },
        webhookDeliveries: { none: {} },
      },
      select: { id: true },
      orderBy: { finishedAt: 'asc' },
      take: options.limit,
    });
    return rows.map((row) => row.id);
  }
}

export type WebhookDeliveryRecord = Awaited<ReturnType<WebhookDeliveryStore['record']>>;
