import { ApiError } from './api/apiTransport.ts';

/** What the page says about a failed request: a short headline, the API's own words, and a wait. */
export interface ErrorDescription {
  code: string;
  title: string;
  detail: string | null;
  retryAfterSeconds: number | null;
}

/** Headlines by error code; the code is the contract, the API's message is shown as detail. */
const titles: Record<string, string> = {
  UNAUTHENTICATED: 'signed out',
  FORBIDDEN: 'this page is for operators',
  RATE_LIMITED: 'rate limited',
  QUOTA_EXCEEDED: 'too many jobs in flight',
  QUEUE_FULL: 'queue full',
  QUEUE_UNAVAILABLE: 'queue unavailable',
  DATABASE_UNAVAILABLE: 'database unavailable',
  TOO_MANY_STREAMS: 'live updates unavailable',
  MISSING_IMAGE: 'no image',
  INVALID_IMAGE: 'not a valid image',
  UNSUPPORTED_FORMAT: 'unsupported image format',
  IMAGE_TOO_LARGE: 'image too large',
  IMAGE_DIMENSIONS: 'image size not accepted',
  UNKNOWN_MODEL: 'unknown model',
  JOB_NOT_FOUND: 'job not found',
  JOB_FINISHED: 'job already finished',
  CONFLICT: 'changed meanwhile',
  NETWORK: 'the API cannot be reached',
  INTERNAL: 'something went wrong on the server',
};

export function describeError(error: unknown): ErrorDescription {
  if (error instanceof ApiError) {
    const base = titles[error.code] ?? error.code.toLowerCase().replaceAll('_', ' ');
    const wait = error.retryAfterSeconds;
    return {
      code: error.code,
      title: wait !== null && wait > 0 ? `${base} — retry in ${wait} s` : base,
      detail: error.message || null,
      retryAfterSeconds: wait,
    };
  }
  return {
    code: 'INTERNAL',
    title: 'something went wrong',
    detail: error instanceof Error ? error.message : null,
    retryAfterSeconds: null,
  };
}

/** "840 ms", "1.4 s", "2 min 5 s", "3 h 2 min"; a dash for null. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes - hours * 60} min`;
}

/** "just now", "12 s ago", "5 min ago", then the clock time. */
export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const ms = now - Date.parse(iso);
  if (ms < 2000) return 'just now';
  if (ms < 60_000) return `${Math.floor(ms / 1000)} s ago`;
  if (ms < 3600_000) return `${Math.floor(ms / 60_000)} min ago`;
  return formatTime(iso);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** Clock time today, date and time otherwise. */
export function formatTime(iso: string | null | undefined, now = new Date()): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return date.toDateString() === now.toDateString() ? timeFormat.format(date) : dateTimeFormat.format(date);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function formatPercent(score: number): string {
  return `${(score * 100).toFixed(score >= 0.995 || score < 0.001 ? 0 : 1)}%`;
}

/** The first 8 characters of a job id: enough to tell jobs apart on screen. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
