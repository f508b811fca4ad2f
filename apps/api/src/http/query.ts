import type { Request } from 'express';
import { metadataFilterOf } from '@inferq/core';
import type { JobFilterInput } from '@inferq/jobs';

/** The first string of a query or form value (Express gives arrays for repeated fields). */
export function firstString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/** A job listing's filters from the query string: `status`, `model`, `version`, `errorCode`, the dates and `metadata[KEY]=VALUE`. */
export function jobFilterQuery(req: Request): JobFilterInput {
  const query = req.query as Record<string, unknown>;
  return {
    status: firstString(query.status),
    model: firstString(query.model),
    version: firstString(query.version),
    errorCode: firstString(query.errorCode),
    createdAfter: firstString(query.createdAfter),
    createdBefore: firstString(query.createdBefore),
    metadata: metadataFilterOf(query),
  };
}
