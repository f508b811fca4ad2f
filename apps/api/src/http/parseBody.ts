import type { z } from 'zod';
import { AppError } from '@inferq/core';

/** A JSON body checked against `schema` (an absent body is `{}`); 400 VALIDATION_FAILED with each issue otherwise. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', 'The request body is not valid.', {
      details: { issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) },
    });
  }
  return parsed.data;
}
