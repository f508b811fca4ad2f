import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  defaultWebhookRetryPolicy,
  isFinalStatus,
  toJobView,
  webhookEventsOf,
  webhookJobPayloadSchema,
  webhookQueueName,
  webhookRetryDelayMs,
  type WebhookEvent,
  type WebhookJobPayload,
  type WebhookRetryPolicy,
} from '@inferq/core';
import type { JobQueries, WebhookDeliveryStore } from '@inferq/db';
import type { JobEventSubscriber, WebhookQueue } from '@inferq/queue';
import { signWebhook, standardWebhookHeaders, type WebhookSender } from '@inferq/webhooks';

export interface WebhookDispatcherOptions {
  /** A consumer connection (retries forever) for the BullMQ worker. */
  connection: Redis;
  /** Where jobs to deliver are enqueued (the same queue the worker consumes). */
  queue: WebhookQueue;
  /** Final job events: the fast path that enqueues a delivery as soon as a job finishes. */
  subscriber?: JobEventSubscriber | undefined;
  jobs: JobQueries;
  deliveries: WebhookDeliveryStore;
  /** The signing secret of a user; null when the user is gone. */
  secretOf: (userId: string) => Promise<string | null>;
  sender: WebhookSender;
  logger: Logger;
  /** BullMQ key prefix. @defaultValue "inferq" */
  prefix?: string;
  /** @defaultValue "webhooks" */
  queueName?: string;
  /** Deliveries in flight at once. @defaultValue 16 */
  concurrency?: number;
  /** Delays between tries (attempts are set by the queue's policy). @defaultValue defaultWebhookRetryPolicy */
  retry?: WebhookRetryPolicy;
  /** How often final jobs with a webhook but no delivery are looked for. 0 turns the sweep off. @defaultValue 30000 */
  sweepIntervalMs?: number;
  /** A job must have been final this long before the sweep takes it (the fast path goes first). @defaultValue 10000 */
  sweepGraceMs?: number;
  /** How far back the sweep looks. @defaultValue 24 h */
  sweepMaxAgeMs?: number;
}

export interface DispatcherStats {
  delivered: number;
  failedAttempts: number;
  enqueuedByEvent: number;
  enqueuedBySweep: number;
}

/**
 * Delivers job webhooks. A job that reaches a final state is enqueued here by two paths: its
 * final event (pub/sub, at once, but lost while this process is down) and a periodic sweep of
 * final jobs that have a webhook and no delivery yet (catches whatever the events missed). Each
 * try reads the job and the owner's secret, POSTs the signed job JSON, and records the attempt;
 * a failed try throws so BullMQ retries it with capped exponential backoff for about a day.
 */
export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly stats: DispatcherStats = { delivered: 0, failedAttempts: 0, enqueuedByEvent: 0, enqueuedBySweep: 0 };
  #worker: Worker<WebhookJobPayload> | undefined;
  #unsubscribe: (() => void) | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  /** Job ids to look up, per event, before enqueueing their deliveries. */
  #pending = { started: new Set<string>(), completed: new Set<string>() };
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(options: WebhookDispatcherOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    const { connection, logger } = this.#options;
    const retry = this.#options.retry ?? defaultWebhookRetryPolicy;
    const worker = new Worker<WebhookJobPayload>(
      this.#options.queueName ?? webhookQueueName,
      (job) => this.#deliver(job),
      {
        connection,
        prefix: this.#options.prefix ?? 'inferq',
        concurrency: this.#options.concurrency ?? 16,
        settings: { backoffStrategy: (attemptsMade: number) => webhookRetryDelayMs(attemptsMade, retry) },
      },
    );
    worker.on('error', (error) => logger.error({ err: error }, 'webhook worker error'));
    this.#worker = worker;

    const subscriber = this.#options.subscriber;
    if (subscriber) {
      this.#unsubscribe = subscriber.onAny((event) => {
        if (isFinalStatus(event.status)) this.#queueCheck(event.jobId, 'completed');
        else if (event.status === 'running') this.#queueCheck(event.jobId, 'started');
      });
      await subscriber.start();
    }
    const interval = this.#options.sweepIntervalMs ?? 30_000;
    if (interval > 0) {
      this.#sweepTimer = setInterval(() => void this.sweep(), interval);
      void this.sweep();
    }
  }

  /** Ids of started or finished jobs are collected for a moment, so one query checks many for a webhook. */
  #queueCheck(jobId: string, event: 'started' | 'completed'): void {
    this.#pending[event].add(jobId);
    this.#flushTimer ??= setTimeout(() => void this.#flushChecks(), 20);
  }

  async #flushChecks(): Promise<void> {
    this.#flushTimer = undefined;
    for (const event of ['started', 'completed'] as const) {
      const ids = [...this.#pending[event]];
      this.#pending[event].clear();
      if (ids.length === 0) continue;
      try {
        for (const jobId of await this.#options.deliveries.withWebhook(ids, event)) {
          await this.#options.queue.enqueue(jobId, event);
          this.stats.enqueuedByEvent++;
        }
      } catch (error) {
        // The sweep picks final states up later; a lost `started` stays lost (it would be stale by then).
        this.#options.logger.warn({ err: error, jobs: ids.length, event }, 'could not enqueue webhooks from events');
      }
    }
  }

  /** Enqueues final jobs that have a webhook and no delivery attempt yet. */
  sweep(): Promise<void> {
    this.#sweeping ??= (async () => {
      const now = Date.now();
      try {
        const ids = await this.#options.deliveries.findUndelivered({
          finishedAfter: new Date(now - (this.#options.sweepMaxAgeMs ?? 24 * 3600_000)),
          finishedBefore: new Date(now - (this.#options.sweepGraceMs ?? 10_000)),
          limit: 500,
        });
        for (const jobId of ids) {
          // A no-op for a job whose delivery is still pending (the same BullMQ id).
          await this.#options.queue.enqueue(jobId);
          this.stats.enqueuedBySweep++;
        }
      } catch (error) {
        this.#options.logger.warn({ err: error }, 'webhook sweep failed');
      } finally {
        this.#sweeping = undefined;
      }
    })();
    return this.#sweeping;
  }

  async #deliver(job: Job<WebhookJobPayload>): Promise<void> {
    const { jobs, deliveries, sender, logger } = this.#options;
    const parsed = webhookJobPayloadSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid webhook payload');
    const { jobId, deliveryId, event } = parsed.data;
    const row = await jobs.get(jobId);
    // Deleted, or no longer anything to send: done.
    if (!row || !row.webhookUrl || !row.userId || !webhookEventsOf(row).includes(event)) return;
    if (event === 'completed' && !isFinalStatus(row.status)) return;
    const secret = await this.#options.secretOf(row.userId);
    if (!secret) return;

    const attempt = job.attemptsMade + 1;
    // The job as it is now: a `started` delivery that is retried late may show it finished.
    const body = JSON.stringify(toJobView(row));
    const timestamp = Math.floor(Date.now() / 1000);
    const result = await sender.send(row.webhookUrl, body, {
      ...standardWebhookHeaders({ secret, messageId: deliveryId, body, timestamp }),
      'InferQ-Signature': signWebhook({ secret, body, timestamp }),
      // job.started, or the final status (checked above): job.succeeded, job.failed or job.canceled.
      'InferQ-Event': (event === 'started' ? 'job.started' : `job.${row.status}`) as WebhookEvent,
      'InferQ-Delivery': deliveryId,
      'InferQ-Attempt': String(attempt),
    });
    await deliveries.record({
      jobId,
      deliveryId,
      event,
      attempt,
      url: row.webhookUrl,
      statusCode: result.statusCode,
      error: result.error,
      durationMs: result.durationMs,
    });
    const log = logger.child({ jobId, attempt, statusCode: result.statusCode });
    if (result.ok) {
      this.stats.delivered++;
      log.info({ durationMs: result.durationMs }, 'webhook delivered');
      return;
    }
    this.stats.failedAttempts++;
    const final = attempt >= (job.opts.attempts ?? 1);
    log.warn(
      { error: result.error, final },
      final ? 'webhook delivery failed for good' : 'webhook attempt failed; retrying',
    );
    throw new Error(`webhook attempt ${attempt} failed: ${result.error}`);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#flushTimer);
    this.#unsubscribe?.();
    await this.#sweeping;
    await this.#worker?.close();
  }
}
