/**
 * A listing's inputs as the query string gives them, checked: the owners' filters, the
 * operators' (a user, free text), the page size and the opaque cursor.
 */
import { AppError, isUuid, jobStatuses, type JobMetadata, type JobStatus } from '@inferq/core';
import type { JobFilter, JobRecord } from '@inferq/db';
import { modelNamePattern } from './submitInputs.ts';

/** A listing's filters as the query string gives them; each is checked here. */
export interface JobFilterInput {
  /** Comma-separated statuses. */
  status?: string | undefined;
  /** Comma-separated model names. */
  model?: string | undefined;
  /** Comma-separated versions (the one that ran the job, else the one asked for). */
  version?: string | undefined;
  /** Comma-separated failure codes. */
  errorCode?: string | undefined;
  /** ISO 8601 date-time: jobs submitted at or after it. */
  createdAfter?: string | undefined;
  /** ISO 8601 date-time: jobs submitted before it. */
  createdBefore?: string | undefined;
  /** `metadata[KEY]=VALUE` pairs, already read from the query (core's metadataFilterOf). */
  metadata?: JobMetadata | undefined;
}

export interface JobListInput extends JobFilterInput {
  cursor?: string | undefined;
  limit?: string | undefined;
}

/** The operators' filters: an owner's, plus the user and free text (id, file name, metadata values). */
export interface AdminJobFilterInput extends JobFilterInput {
  /** A user id. */
  userId?: string | undefined;
  /** At least 3 characters, matched anywhere in the id, the file name or a metadata value, ignoring case. */
  q?: string | undefined;
}

export interface JobPage {
  jobs: JobRecord[];
  /** Opaque; null on the last page. */
  nextCursor: string | null;
}

const defaultPageSize = 20;
const maxPageSize = 100;

export function parseLimit(value: string | undefined): number {
  if (value === undefined) return defaultPageSize;
  // Decimal digits only: Number() would also take `1e2`, `0x10`, ` 5` and `5.0`.
  const limit = /^[0-9]{1,3}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxPageSize) {
    throw new AppError('VALIDATION_FAILED', `limit must be an integer from 1 to ${maxPageSize}.`, {
      details: { field: 'limit' },
    });
  }
  return limit;
}

/** A comma-separated list of names (models, versions, codes): each as modelNamePattern allows. */
function parseNames(field: string, value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const names = value.split(',').map((name) => name.trim());
  if (names.length > 20 || names.some((name) => !modelNamePattern.test(name))) {
    throw new AppError('VALIDATION_FAILED', `${field} is a comma-separated list of up to 20 names.`, {
      details: { field },
    });
  }
  return names;
}

/** An ISO 8601 date-time with its offset (`2026-12-06T09:00:00Z`), as Postgres can hold it. */
function parseInstant(field: string, value: string | undefined): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const date = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(value)
    ? new Date(value)
    : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new AppError('VALIDATION_FAILED', `${field} must be an ISO 8601 date-time, e.g. 2026-12-06T09:00:00Z.`, {
      details: { field },
    });
  }
  return date;
}

export function parseFilter(input: JobFilterInput): JobFilter {
  const createdAfter = parseInstant('createdAfter', input.createdAfter);
  const createdBefore = parseInstant('createdBefore', input.createdBefore);
  return {
    statuses: parseStatuses(input.status),
    models: parseNames('model', input.model),
    versions: parseNames('version', input.version),
    errorCodes: parseNames('errorCode', input.errorCode),
    createdAfter,
    createdBefore,
    metadata: input.metadata,
  };
}

/** Free text shorter than a trigram cannot use the index, so it is refused rather than scanned. */
const minSearchLength = 3;
const maxSearchLength = 200;

/** The operators' filters, checked: the owners' plus a user id and free text. */
export function parseAdminFilter(input: AdminJobFilterInput): JobFilter {
  if (input.userId !== undefined && input.userId !== '' && !isUuid(input.userId)) {
    throw new AppError('VALIDATION_FAILED', 'userId must be a user id.', { details: { field: 'userId' } });
  }
  const q = input.q?.trim();
  if (q && (q.length < minSearchLength || q.length > maxSearchLength)) {
    throw new AppError('VALIDATION_FAILED', `q must be ${minSearchLength} to ${maxSearchLength} characters.`, {
      details: { field: 'q' },
    });
  }
  return { ...parseFilter(input), userId: input.userId || undefined, text: q || undefined };
}

function parseStatuses(value: string | undefined): JobStatus[] | undefined {
  if (value === undefined || value === '') return undefined;
  const statuses = value.split(',').map((status) => status.trim());
  for (const status of statuses) {
    if (!(jobStatuses as readonly string[]).includes(status)) {
      throw new AppError('VALIDATION_FAILED', `Unknown status "${status.slice(0, 32)}".`, {
        details: { field: 'status', allowed: jobStatuses },
      });
    }
  }
  return statuses as JobStatus[];
}

/** The cursor is the last job's (createdAt, id), base64url-encoded; clients treat it as opaque. */
export function encodeCursor(job: JobRecord): string {
  return Buffer.from(JSON.stringify([job.createdAt.toISOString(), job.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const invalid = () => new AppError('VALIDATION_FAILED', 'The cursor is not valid.', { details: { field: 'cursor' } });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid();
  const [at, id] = parsed as unknown[];
  const createdAt = typeof at === 'string' ? new Date(at) : new Date(Number.NaN);
  if (Number.isNaN(createdAt.getTime()) || typeof id !== 'string' || !isUuid(id)) throw invalid();
  // A date JavaScript holds but Postgres does not (year 200000, 5000 BC) would fail in the query.
  if (createdAt.getUTCFullYear() < 1970 || createdAt.getUTCFullYear() > 9999) throw invalid();
  return { createdAt, id };
}
