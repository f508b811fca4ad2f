import { AppError } from '@inferq/core';
import { checkOutboundUrl, isOutboundRefused } from '@inferq/outbound';

export interface WebhookUrlPolicy {
  /**
   * Accept `http://` and loopback hosts (127.0.0.0/8, ::1, localhost): for development and tests
   * only; the API refuses the setting in production.
   * @defaultValue false
   */
  allowLoopback?: boolean;
  /**
   * Ports a webhook URL may name besides 80 and 443 (WEBHOOK_ALLOW_PORTS). Any other port on a
   * public host is refused: a webhook is no way to reach SSH, Redis or an admin port.
   * @defaultValue [] (none)
   */
  allowPorts?: readonly number[];
}

export const maxWebhookUrlLength = 2048;

const messages = {
  malformed: 'The webhook is not an absolute URL.',
  credentials: 'The webhook URL must not carry a user name or password.',
  not_https: 'The webhook URL must use https.',
  private_address: 'The webhook URL points to a loopback, private or reserved address.',
  port: 'The webhook URL must use port 443 (or 80), or a port the platform allows.',
} as const;

/** Ports every webhook URL may use. */
const webhookPorts: readonly number[] = [80, 443];

/**
 * Whether `url` names a port the policy allows. Where loopback is allowed (development and tests
 * only; refused in production) any port is: local receivers listen where they can.
 */
function portAllowed(url: URL, policy: WebhookUrlPolicy): boolean {
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return webhookPorts.includes(port) || (policy.allowPorts ?? []).includes(port) || policy.allowLoopback === true;
}

/**
 * Checks a webhook URL at submit time and returns it normalized. Only what the URL itself shows is
 * checked here (scheme, credentials, literal addresses, loopback names such as `localhost.`); the
 * names are resolved and checked again when each delivery connects (see WebhookSender), which
 * also defeats DNS rebinding. The rules are @inferq/outbound's, shared with model fetches, plus
 * the port: 80 or 443 unless the policy allows another.
 */
export function checkWebhookUrl(raw: string, policy: WebhookUrlPolicy = {}): string {
  if (raw.length > maxWebhookUrlLength) {
    throw new AppError('INVALID_WEBHOOK_URL', `The webhook URL is longer than ${maxWebhookUrlLength} characters.`, {
      details: { reason: 'too_long' },
    });
  }
  let url: URL;
  try {
    url = checkOutboundUrl(raw, { allowLoopback: policy.allowLoopback === true });
  } catch (error) {
    if (!isOutboundRefused(error)) throw error;
    throw new AppError('INVALID_WEBHOOK_URL', messages[error.reason], { details: { reason: error.reason } });
  }
  if (!portAllowed(url, policy))
    throw new AppError('INVALID_WEBHOOK_URL', messages.port, { details: { reason: 'port' } });
  return url.href;
}
