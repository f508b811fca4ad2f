import { toJobView as toView, type JobView, type WebhookDeliveryView } from '@inferq/core';
import type { JobRecord, WebhookDeliveryRecord } from '@inferq/db';

/** The public representation of a job (shared with webhook deliveries; see @inferq/core). */
export function toJobView(job: JobRecord): JobView {
  return toView(job);
}

/** One webhook delivery attempt, as its job's owner sees it. */
export function toDeliveryView(delivery: WebhookDeliveryRecord): WebhookDeliveryView {
  return {
    // The id the receiver got (webhook-id, InferQ-Delivery); an attempt recorded before it was kept has its own.
    id: delivery.deliveryId ?? delivery.id,
    attempt: delivery.attempt,
    event: delivery.event === 'started' ? 'started' : 'completed',
    url: delivery.url,
    statusCode: delivery.statusCode,
    error: delivery.error,
    durationMs: delivery.durationMs,
    createdAt: delivery.createdAt.toISOString(),
  };
}
