/**
 * Query parameters whose values are never logged: a client that sends its key as `?api_key=`
 * (or a token, secret, password, signature) must not find it in the platform's logs. Matched on
 * the decoded name, anywhere in it, case-insensitively (`api_key`, `apiKey`, `X-Amz-Signature`).
 */
const secretName = /key|token|secret|passw|pwd|signature|^sig$|auth|session|credential/i;

export const redactedValue = '[REDACTED]';

/** `url` (path and query, as in `req.url`) with the values of secret-looking parameters replaced. */
export function redactUrl(url: string): string {
  const start = url.indexOf('?');
  if (start === -1) return url;
  const query = url.slice(start + 1);
  const parts = query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replaceAll('+', ' '));
    } catch {
      // Not valid percent-encoding: judged as written.
    }
    return secretName.test(name) ? `${rawName}=${redactedValue}` : pair;
  });
  return `${url.slice(0, start)}?${parts.join('&')}`;
}
