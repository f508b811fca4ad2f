import { AppError } from '@inferq/core';
import { checkOutboundUrl, isOutboundRefused } from '@inferq/outbound';

export interface WebhookUrlPolicy {
  /**
   * Accept `http://` and loopback hosts (127.0.0.0/8, ::1, localhost): for development and tests
   * only; the API refuses the setting in production.
   * @defaultValue false
   */
  allowLoopback?: boolean;
}

export const maxWebhookUrlLength = 2048;

const messages = {
  malformed: 'The webhook is not an absolute URL.',
  credentials: 'The webhook URL must not carry a user name or password.',
  not_https: 'The webhook URL must use https.',
  private_address: 'The webhook URL points to a loopback, private or reserved address.',
} as const;

/**
 * Checks a webhook URL at submit time and returns it normalized. Only what the URL itself shows is
 * checked here (scheme, credentials, literal addresses, loopback names such as `localhost.`); the
 * names are resolved and checked again when each delivery connects (see WebhookSender), which
 * also defeats DNS rebinding. The rules are @inferq/outbound's, shared with model fetches.
 */
export function checkWebhookUrl(raw: string, policy: WebhookUrlPolicy = {}): string {
  if (raw.length > maxWebhookUrlLength) {
    throw new AppError('INVALID_WEBHOOK_URL', `The webhook URL is longer than ${maxWebhookUrlLength} characters.`, { details: { reason: 'too_long' } });
  }
  try {
    return checkOutboundUrl(raw, { allowLoopback: policy.allowLoopback === true }).href;
  } catch (error) {
    if (!isOutboundRefused(error)) throw error;
    throw new AppError('INVALID_WEBHOOK_URL', messages[error.reason], { details: { reason: error.reason } });
  }
}
