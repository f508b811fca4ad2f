import { AppError, maxWaitSeconds } from '@inferq/core';

export interface WaitPreference {
  /** Seconds to wait, 0 to answer at once. */
  seconds: number;
  /** Whether it came from `Prefer: wait=` (answered with `Preference-Applied`). */
  fromPrefer: boolean;
}

/** The `wait` preference of an RFC 7240 `Prefer` header (`Prefer: wait=10, respond-async`), or null. */
export function preferredWait(header: string | undefined): number | null {
  if (!header) return null;
  for (const preference of header.split(',')) {
    const [token] = preference.split(';');
    const match = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*$/i.exec(token ?? '');
    if (match) return Number(match[1]);
  }
  return null;
}

/**
 * How long a request may wait for its job: `?wait=N` (validated: 0 to 60) or `Prefer: wait=N`
 * (a hint: capped at 60, ignored when malformed). The query parameter wins when both are sent.
 */
export function waitPreference(query: unknown, preferHeader: string | undefined): WaitPreference {
  if (query !== undefined) {
    const text = typeof query === 'string' ? query : '';
    if (!/^\d{1,3}$/.test(text) || Number(text) > maxWaitSeconds) {
      throw new AppError('VALIDATION_FAILED', `wait must be a whole number of seconds from 0 to ${maxWaitSeconds}.`, {
        details: { field: 'wait', max: maxWaitSeconds },
      });
    }
    return { seconds: Number(text), fromPrefer: false };
  }
  const preferred = preferredWait(preferHeader);
  if (preferred === null) return { seconds: 0, fromPrefer: false };
  return { seconds: Math.min(preferred, maxWaitSeconds), fromPrefer: true };
}
