import { createHash, randomUUID } from 'node:crypto';
import {
  AppError,
  isFinalStatus,
  isUuid,
  maxBulkJobs,
  parseJobMetadata,
  queueUnavailable,
  type JobSelection,
  type RedeliverWebhooksBody,
  type RedeliveryView,
  type RetryJobsBody,
  type RetryJobsView,
} from '@inferq/core';
import type { JobQueries, WebhookDeliveryStore } from '@inferq/db';
import type { WebhookQueue } from '@inferq/queue';
import { parseAdminFilter } from './jobFilters.ts';
import { retryEach } from './retryEach.ts';

export interface ReplayOperationsOptions {
  queries: JobQueries;
  deliveries: WebhookDeliveryStore;
  /** Where redeliveries are enqueued (the dispatcher's queue). @defaultValue none: redelivery answers 503 */
  webhooks?: WebhookQueue | undefined;
  /** Runs one failed job again: the same retry as `POST /v1/admin/jobs/:id/retry`. */
  retry: (id: string) => Promise<unknown>;
  /** Retries run at once. @defaultValue 8 */
  concurrency?: number;
  /** @defaultValue () => new Date() */
  now?: () => Date;
}

/** Most jobs a preview counts; past it the count says "at least". */
const maxPreviewCount = 100_000;

/** A short id derived from what an operation is: the same request is the same operation. */
function operationIdOf(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

/** The selection with its keys in one order, so equal selections hash alike. */
function canonical(selection: JobSelection): unknown {
  const sorted = (value: unknown): unknown =>
    value && typeof value === 'object'
      ? Object.fromEntries(
          Object.entries(value)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([k, v]) => [k, sorted(v)]),
        )
      : value;
  return sorted(selection);
}

/**
 * The operators' replays, each one idempotent request that can be previewed first: retry the
 * failed jobs of any selection (the search's filters), and deliver a job's webhook again, for
 * one job or for every job whose delivery failed within a time range (an outage at the
 * receiver). Each new delivery is recorded attempt by attempt in the delivery log like the first.
 * Knows nothing of HTTP.
 */
export class ReplayOperations {
  readonly #options: ReplayOperationsOptions;

  constructor(options: ReplayOperationsOptions) {
    this.#options = options;
  }

  /**
   * Retries the failed jobs of a selection that had failed by `asOf`. The preview (`dryRun`)
   * counts them and answers `asOf`; the request that sends that `asOf` back retries them, oldest
   * failure first, up to `limit`. Sending it again retries only what is still failed from before
   * `asOf` (the rest of a large selection): a job retried once and failed again is not retried by
   * the same operation.
   */
  async retryJobs(body: RetryJobsBody): Promise<RetryJobsView> {
    const selection = body.filter ?? {};
    const filter = {
      ...parseAdminFilter({ ...selection, userId: selection.user, metadata: parseJobMetadata(selection.metadata) }),
      statuses: ['failed' as const],
    };
    if (!body.dryRun && body.asOf === undefined) {
      throw new AppError(
        'VALIDATION_FAILED',
        'Preview first (dryRun: true) and send the asOf it answered: it fixes which jobs the retry covers.',
        { details: { field: 'asOf' } },
      );
    }
    const asOf = body.asOf === undefined ? (this.#options.now?.() ?? new Date()) : new Date(body.asOf);
    const covered = { ...filter, finishedAtOrBefore: asOf };
    const operationId = operationIdOf('retry', canonical(selection), asOf.toISOString());
    const matched = await this.#options.queries.count(covered, maxPreviewCount);
    if (body.dryRun)
      return { operationId, asOf: asOf.toISOString(), matched, retried: 0, remaining: matched, dryRun: true };

    const ids = await this.#options.queries.ids(covered, body.limit ?? maxBulkJobs);
    const retried = await retryEach(ids, this.#options.retry, this.#options.concurrency ?? 8);
    return { operationId, asOf: asOf.toISOString(), matched, retried, remaining: matched - retried, dryRun: false };
  }

  /**
   * Delivers one job's final state to its webhook again. With the same `idempotencyKey` a second
   * request enqueues nothing; without one, every request is a new delivery.
   *
   * @throws AppError JOB_NOT_FOUND; CONFLICT when the job has no webhook or is not final
   */
  async redeliverJob(jobId: string, idempotencyKey: string | undefined): Promise<RedeliveryView> {
    const webhooks = this.#webhooks();
    const job = isUuid(jobId) ? await this.#options.queries.get(jobId) : null;
    if (!job) throw new AppError('JOB_NOT_FOUND', 'No such job.');
    if (!job.webhookUrl)
      throw new AppError('CONFLICT', 'The job has no webhook.', { details: { reason: 'no_webhook' } });
    if (!isFinalStatus(job.status))
      throw new AppError('CONFLICT', 'The job is not final yet: its webhook is sent when it is.', {
        details: { status: job.status },
      });
    const operationId = operationIdOf('redeliver', job.id, idempotencyKey ?? randomUUID());
    const enqueued = await webhooks.redeliver(job.id, operationId);
    return { operationId, matched: 1, enqueued: enqueued ? 1 : 0, dryRun: false };
  }

  /**
   * Delivers again the final state of every job whose webhook failed in `[from, to)` and never
   * succeeded since (or counts them, with `dryRun`). The operation id is derived from the range,
   * so sending the same range twice enqueues each job once.
   */
  async redeliverFailed(body: RedeliverWebhooksBody): Promise<RedeliveryView> {
    const from = new Date(body.from);
    const to = new Date(body.to);
    if (!(from < to))
      throw new AppError('VALIDATION_FAILED', 'from must be before to.', { details: { field: 'from' } });
    const operationId = operationIdOf('redeliver-range', from.toISOString(), to.toISOString());
    const ids = await this.#options.deliveries.failedInRange({ from, to, limit: body.limit ?? maxBulkJobs });
    if (body.dryRun) return { operationId, matched: ids.length, enqueued: 0, dryRun: true };
    const webhooks = this.#webhooks();
    let enqueued = 0;
    for (const id of ids) if (await webhooks.redeliver(id, operationId)) enqueued++;
    return { operationId, matched: ids.length, enqueued, dryRun: false };
  }

  #webhooks(): WebhookQueue {
    if (!this.#options.webhooks) throw queueUnavailable();
    return this.#options.webhooks;
  }
}
