import { z } from 'zod';
import { errorCodes, type ErrorCode } from './errors.ts';
import { imageFormats, jobStatuses } from './types.ts';

/**
 * Wire schemas of the public HTTP API, defined once: the API serializes through them, the client
 * types come from them, and the OpenAPI document is generated from them.
 */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(errorCodes as [ErrorCode, ...ErrorCode[]]).meta({ id: 'ErrorCode' }),
    message: z.string(),
    details: z.unknown().optional(),
  }),
}).meta({ id: 'Error', description: 'Every error answer has this shape; match `code`, never `message`.' });

/**
 * The events a submit's webhook may ask for (`webhookEvents`, as Replicate's webhook filter):
 * `started` when the job begins running, `completed` when it reaches its final state (the default).
 */
export const webhookEventFilters = ['started', 'completed'] as const;
export type WebhookEventFilter = (typeof webhookEventFilters)[number];

export const labelScoreSchema = z.object({ label: z.string(), score: z.number() });

/** One output tensor in the Open Inference Protocol's shape. */
export const protocolTensorSchema = z.object({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number().int()),
  /** The elements in row-major order (BOOL as true/false). */
  data: z.array(z.union([z.number(), z.boolean()])),
}).meta({ id: 'ProtocolTensor' });

/** What a tensor model's reader (its manifest's `reader`) made of the outputs; one entry per batch row. */
export const tensorReadingSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('classification'), top: z.array(z.array(z.object({ label: z.string(), score: z.number(), index: z.number().int() }))) }),
  z.object({ kind: z.literal('embedding'), vectors: z.array(z.array(z.number())) }),
  z.object({
    kind: z.literal('detection'),
    detections: z.array(z.array(z.object({ box: z.array(z.number()), score: z.number(), class: z.number(), label: z.string().optional() }))),
  }),
  z.object({ kind: z.literal('raw') }),
]).meta({ id: 'TensorReading' });

export const jobResultSchema = z.object({
  /** Raw output vector(s) of the model, one per output tensor (a tensor model's: each output's elements, flat; BOOL as 0/1). */
  output: z.array(z.array(z.number())),
  /** Top-k decoded labels with scores, best first (classifiers only). */
  top: z.array(labelScoreSchema).nullable(),
  /** A tensor model's outputs in the protocol's response shape (`POST /v2/…/infer`'s `outputs`); null for an image model. */
  outputs: z.array(protocolTensorSchema).nullable(),
  /** A tensor model's reading of its outputs (classification, embedding, detection, raw); null for an image model. */
  reading: tensorReadingSchema.nullable(),
});

export const jobViewSchema = z.object({
  id: z.uuid(),
  status: z.enum(jobStatuses),
  model: z.object({
    name: z.string(),
    /** The version that produced the result; null until a worker ran it. */
    version: z.string().nullable(),
    /** The engine that ran it: `onnxruntime-cpu`, `onnxruntime-cuda`, `tfjs-wasm`, …; null until a worker ran it. */
    engine: z.string().nullable(),
    requestedVersion: z.string().nullable(),
  }),
  input: z.object({
    format: z.enum(imageFormats).or(z.string()),
    width: z.number().int(),
    height: z.number().int(),
    bytes: z.number().int(),
    fileName: z
      .string()
      .nullable()
      .meta({ description: 'The uploaded file\'s name as the client sent it, sanitized: no path, no control characters, at most 200 characters. Null when none was sent.' }),
  }),
  attempts: z.number().int(),
  result: jobResultSchema.nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: z.iso.datetime(),
  startedAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
  /**
   * When the job, its image and its result are deleted (the tier's retention, counted from the
   * submit); null when they are kept until an operator removes them.
   */
  expiresAt: z.iso.datetime().nullable().meta({ description: "When the job, its image and its result are deleted (the tier's retention); null when kept." }),
  timings: z.object({
    /** Submission to the attempt's start (a worker took it from its model's queue). */
    queueWaitMs: z.number().int().nullable(),
    /**
     * The attempt's start to the start of its model batch: preprocessing and the wait for the batch
     * (held). queueWaitMs + heldMs + inferenceMs ≈ totalMs, less the result write.
     */
    heldMs: z.number().int().nullable(),
    /** The model batch the job ran in. */
    inferenceMs: z.number().int().nullable(),
    totalMs: z.number().int().nullable(),
  }),
  links: z.object({ self: z.string() }),
  /**
   * Why a queued job has not started: `worker` while no live worker serves its model (it runs once
   * one starts; NO_WORKER_TIMEOUT_MS may fail it first). null otherwise, and in webhook bodies
   * (final jobs).
   */
  waitingFor: z.enum(['worker']).nullable(),
  /** Where the job is POSTed when it reaches a final state; null when it has no webhook. */
  webhook: z
    .object({
      url: z.string(),
      /** The events it is sent: `started` (the job began running), `completed` (its final state). */
      events: z.array(z.enum(webhookEventFilters)),
      /** Path of the delivery attempts of this job. */
      deliveries: z.string(),
    })
    .nullable(),
}).meta({ id: 'Job', description: 'A job: one image submitted for inference.' });

export type JobView = z.infer<typeof jobViewSchema>;
export type ErrorBodyView = z.infer<typeof errorBodySchema>;

/** Longest a request may wait for a job to finish (`?wait=` and `Prefer: wait=`), in seconds. */
export const maxWaitSeconds = 60;

/** The multipart form of `POST /v1/jobs`. */
export const submitJobFormSchema = z.object({
  image: z.string().meta({ format: 'binary', description: 'The image (JPEG, PNG, WebP, GIF, AVIF or TIFF); the format is read from the bytes.' }),
  model: z.string().max(64).optional().meta({ description: 'Model name; default: the server\'s DEFAULT_MODEL.' }),
  version: z.string().max(64).optional().meta({ description: 'Model version; default: the live version.' }),
  webhook: z
    .string()
    .max(2048)
    .optional()
    .meta({ description: 'URL POSTed with the job when it reaches a final state (https; public addresses only).', format: 'uri' }),
  webhookEvents: z
    .string()
    .max(64)
    .optional()
    // No example: the reference page's request sample fills each field with its example, and
    // webhookEvents without a webhook URL is refused.
    .meta({ description: 'Comma-separated events the webhook is sent: `started` (the job began running), `completed` (its final state; the default), e.g. `started,completed`. Only with `webhook`.' }),
});

/** The multipart form of `POST /v1/jobs/batch`: the fields of a submit, with `image` given once per image. */
export const submitBatchFormSchema = submitJobFormSchema.extend({
  image: z
    .array(z.string().meta({ format: 'binary' }))
    .meta({ description: 'The images, one file part named `image` each, in order; at most the tier\'s `maxBatchImages`. Every job of the batch gets the same model, version and webhook.' }),
});

/** What became of one image of a batch: its job, or the error that image alone was refused with. */
export const batchItemViewSchema = z.object({
  /** The image's place in the request, from 0. */
  index: z.number().int().min(0),
  /** The HTTP status a single submit of this image would have been answered with (202, 200, 4xx, 5xx). */
  status: z.number().int(),
  job: jobViewSchema.nullable(),
  error: errorBodySchema.shape.error.nullable(),
}).meta({ id: 'BatchItem' });

export const batchViewSchema = z.object({
  /** One entry per image, in the order of the request. */
  data: z.array(batchItemViewSchema),
  /** Images that have a job (new, or an earlier one answered again for its Idempotency-Key). */
  accepted: z.number().int().min(0),
  /** Images refused, each with its own error. */
  refused: z.number().int().min(0),
}).meta({ id: 'Batch', description: 'The answer to a batch submit: a job or an error per image.' });

export type BatchItemView = z.infer<typeof batchItemViewSchema>;
export type BatchView = z.infer<typeof batchViewSchema>;

/** One attempt to deliver a job's webhook. */
export const webhookDeliveryViewSchema = z.object({
  /**
   * The delivery's id: the `webhook-id` (and `InferQ-Delivery`) header the receiver got, the same
   * on every attempt of one delivery (`attempt` tells them apart), so a receiver's log and this
   * one can be matched.
   */
  id: z.uuid().meta({ description: 'The delivery id: the `webhook-id` / `InferQ-Delivery` header the receiver got; the same on each attempt of one delivery.' }),
  attempt: z.number().int().min(1),
  /** `started` or `completed`. */
  event: z.enum(webhookEventFilters),
  url: z.string(),
  /** The receiver's HTTP status; null when no answer came (refused, timed out, blocked). */
  statusCode: z.number().int().nullable(),
  /** Why the attempt failed, when it did. */
  error: z.string().nullable(),
  durationMs: z.number().int().nullable(),
  createdAt: z.iso.datetime(),
}).meta({ id: 'WebhookDelivery' });

export const webhookDeliveryListViewSchema = z.object({
  data: z.array(webhookDeliveryViewSchema),
}).meta({ id: 'WebhookDeliveryList' });

/** The caller's webhook signing secret. */
export const webhookSecretViewSchema = z.object({
  secret: z.string().meta({ description: 'The key of the webhook signatures (Standard Webhooks `webhook-signature`, and `InferQ-Signature`): `whsec_` and base64.', example: 'whsec_…' }),
}).meta({ id: 'WebhookSecret' });

/** Event names sent in the `InferQ-Event` header: `job.started`, then one per final job status. */
export const webhookEvents = ['job.started', 'job.succeeded', 'job.failed', 'job.canceled'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export type WebhookDeliveryView = z.infer<typeof webhookDeliveryViewSchema>;
export type WebhookDeliveryListView = z.infer<typeof webhookDeliveryListViewSchema>;
export type WebhookSecretView = z.infer<typeof webhookSecretViewSchema>;
