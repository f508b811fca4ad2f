import { z } from 'zod';
import { errorCodes, type ErrorCode } from './errors.ts';
import { imageFormats, jobStatuses } from './types.ts';

/**
 * Wire schemas of the public HTTP API, defined once: the API serializes through them, the client
 * types come from them, and the OpenAPI document is generated from them.
 */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(errorCodes as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});

export const labelScoreSchema = z.object({ label: z.string(), score: z.number() });

export const jobResultSchema = z.object({
  /** Raw output vector(s) of the model, one per output tensor. */
  output: z.array(z.array(z.number())),
  /** Top-k decoded labels with scores, best first (classifiers only). */
  top: z.array(labelScoreSchema).nullable(),
});

export const jobViewSchema = z.object({
  id: z.uuid(),
  status: z.enum(jobStatuses),
  model: z.object({
    name: z.string(),
    /** The version that produced the result; null until a worker ran it. */
    version: z.string().nullable(),
    requestedVersion: z.string().nullable(),
  }),
  input: z.object({
    format: z.enum(imageFormats).or(z.string()),
    width: z.number().int(),
    height: z.number().int(),
    bytes: z.number().int(),
  }),
  attempts: z.number().int(),
  result: jobResultSchema.nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: z.iso.datetime(),
  startedAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
  timings: z.object({
    queueWaitMs: z.number().int().nullable(),
    inferenceMs: z.number().int().nullable(),
    totalMs: z.number().int().nullable(),
  }),
  links: z.object({ self: z.string() }),
});

export type JobView = z.infer<typeof jobViewSchema>;
export type ErrorBodyView = z.infer<typeof errorBodySchema>;
