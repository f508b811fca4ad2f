import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { AppError } from '@inferq/core';

export interface WebhookUrlPolicy {
  /**
   * Accept `http://` and loopback hosts (127.0.0.0/8, ::1, localhost): for development and tests
   * only; the API refuses the setting in production.
   * @defaultValue false
   */
  allowLoopback?: boolean;
}

export const maxWebhookUrlLength = 2048;

function invalid(reason: string, message: string): AppError {
  return new AppError('INVALID_WEBHOOK_URL', message, { details: { reason } });
}

function isLoopbackName(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost');
}

/** The address literal of a URL host (`[::1]` → `::1`), or null for a name. */
function ipLiteral(hostname: string): string | null {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) ? bare : null;
}

/**
 * Checks a webhook URL at submit time and returns it normalized. Only what the URL itself shows is
 * checked here (scheme, credentials, literal addresses); the names are resolved and checked again
 * when each delivery connects (see WebhookSender), which also defeats DNS rebinding.
 */
export function checkWebhookUrl(raw: string, policy: WebhookUrlPolicy = {}): string {
  if (raw.length > maxWebhookUrlLength) throw invalid('too_long', `The webhook URL is longer than ${maxWebhookUrlLength} characters.`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('malformed', 'The webhook is not an absolute URL.');
  }
  if (url.username || url.password) throw invalid('credentials', 'The webhook URL must not carry a user name or password.');
  const literal = ipLiteral(url.hostname);
  const loopback = isLoopbackName(url.hostname) || (literal !== null && ipaddr.parse(literal).range() === 'loopback');
  if (loopback && !policy.allowLoopback) throw invalid('private_address', 'The webhook URL points to a loopback address.');
  if (url.protocol === 'http:') {
    if (!loopback) throw invalid('not_https', 'The webhook URL must use https.');
  } else if (url.protocol !== 'https:') {
    throw invalid('not_https', 'The webhook URL must use https.');
  }
  if (literal !== null && !loopback && ipaddr.parse(literal).range() !== 'unicast') {
    throw invalid('private_address', 'The webhook URL points to a private or reserved address.');
  }
  url.hash = '';
  return url.href;
}
