import { AppError, maxWaitSeconds } from '@inferq/core';

export interface WaitPreference {
  /** Seconds to wait, 0 to answer at once. */
  seconds: number;
  /**
   * Whether the request asked to wait (`?wait=N` or `Prefer: wait[=N]`): its answer then says
   * what was applied, `Preference-Applied: wait=<seconds>`.
   */
  asked: boolean;
}

/**
 * The `wait` preference of an RFC 7240 `Prefer` header (`Prefer: wait=10, respond-async`), or
 * null when there is none or it is malformed. A bare `wait` (RFC 7240 allows a preference without
 * a value) asks for the longest wait there is: Infinity, which the caller clamps.
 */
export function preferredWait(header: string | undefined): number | null {
  if (!header) return null;
  for (const preference of header.split(',')) {
    const [token] = preference.split(';');
    if (/^\s*wait\s*$/i.test(token ?? '')) return Number.POSITIVE_INFINITY;
    const match = /^\s*wait\s*=\s*"?(\d+)"?\s*$/i.exec(token ?? '');
    if (match) return Number(match[1]);
  }
  return null;
}

/**
 * How long a request may wait for its job, one rule for both ways of asking: `?wait=N` and
 * `Prefer: wait=N` are whole seconds, clamped to 0…60 (`maxWaitSeconds`); what was applied is
 * announced (`Preference-Applied`). A bare `Prefer: wait` is the longest wait. The query
 * parameter wins when both are sent. A malformed `?wait` (not a whole number) is refused with 400
 * VALIDATION_FAILED, as any bad query parameter is; a malformed `Prefer` is ignored, as RFC 7240
 * asks of preferences a server does not understand.
 */
export function waitPreference(query: unknown, preferHeader: string | undefined): WaitPreference {
  if (query !== undefined) {
    const text = typeof query === 'string' ? query : '';
    if (!/^\d+$/.test(text)) {
      throw new AppError(
        'VALIDATION_FAILED',
        `wait must be a whole number of seconds (at most ${maxWaitSeconds} are waited).`,
        {
          details: { field: 'wait', max: maxWaitSeconds },
        },
      );
    }
    return { seconds: Math.min(Number(text), maxWaitSeconds), asked: true };
  }
  const preferred = preferredWait(preferHeader);
  if (preferred === null) return { seconds: 0, asked: false };
  return { seconds: Math.min(preferred, maxWaitSeconds), asked: true };
}
