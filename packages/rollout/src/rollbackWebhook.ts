import { randomUUID } from 'node:crypto';
import type { ModelRolledBackEvent } from '@inferq/core';
import { signatureHeader, signWebhook, standardWebhookHeaders, type WebhookSender } from '@inferq/webhooks';

export interface RollbackWebhookOptions {
  /** The administrators' endpoint. */
  url: string;
  /** Signs each delivery like a job webhook (Standard Webhooks headers and `InferQ-Signature`). */
  secret: string;
  /** Sends through the outbound policy of job webhooks (public addresses only unless allowed). */
  sender: WebhookSender;
  /** Tries before giving up. @defaultValue 3 */
  attempts?: number;
}

/**
 * The `model.rolled_back` notice for administrators: POSTed as JSON to one configured URL,
 * signed like job webhooks, tried a few times (1 s, then 2 s apart). A rollback is recorded
 * before it is announced, so a notice that never arrives loses no fact: the dashboard and
 * `GET /v1/admin/models/{name}/traffic` list it.
 */
export function rollbackWebhook(options: RollbackWebhookOptions): (event: ModelRolledBackEvent) => Promise<void> {
  return async (event) => {
    const body = JSON.stringify(event);
    const messageId = randomUUID();
    const attempts = options.attempts ?? 3;
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const timestamp = Math.floor(Date.now() / 1000);
      const headers = {
        [signatureHeader]: signWebhook({ secret: options.secret, body, timestamp }),
        ...standardWebhookHeaders({ secret: options.secret, messageId, body, timestamp }),
      };
      const result = await options.sender.send(options.url, body, headers);
      if (result.ok) return;
      last = result.error ?? `HTTP ${result.statusCode}`;
      if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** (attempt - 1)));
    }
    throw new Error(`model.rolled_back webhook to the administrators' URL failed: ${last}`);
  };
}
