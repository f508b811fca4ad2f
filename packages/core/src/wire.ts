import { z } from 'zod';
import { errorCodes, type ErrorCode } from './errors.ts';
import { imageFormats, jobStatuses } from './types.ts';

/**
 * Wire schemas of the public HTTP API, defined once: the API serializes through them, the client
 * types come from them, and the OpenAPI document is generated from them.
 */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(errorCodes as [ErrorCode, ...ErrorCode[]]).meta({ id: 'ErrorCode' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error', description: 'Every error answer has this shape; match `code`, never `message`.' });

/**
 * The events a submit's webhook may ask for (`webhookEvents`, as Replicate's webhook filter):
 * `started` when the job begins running, `completed` when it reaches its final state (the default).
 */
export const webhookEventFilters = ['started', 'completed'] as const;
export type WebhookEventFilter = (typeof webhookEventFilters)[number];

export const labelScoreSchema = z.object({ label: z.string(), score: z.number() });

/** One output tensor in the Open Inference Protocol's shape. */
export const protocolTensorSchema = z
  .object({
    name: z.string(),
    datatype: z.string(),
    shape: z.array(z.number().int()),
    /** The elements in row-major order (BOOL as true/false). */
    data: z.array(z.union([z.number(), z.boolean()])),
  })
  .meta({ id: 'ProtocolTensor' });

/** What a tensor model's reader (its manifest's `reader`) made of the outputs; one entry per batch row. */
export const tensorReadingSchema = z
  .discriminatedUnion('kind', [
    z.object({
      kind: z.literal('classification'),
      top: z.array(z.array(z.object({ label: z.string(), score: z.number(), index: z.number().int() }))),
    }),
    z.object({ kind: z.literal('embedding'), vectors: z.array(z.array(z.number())) }),
    z.object({
      kind: z.literal('detection'),
      detections: z.array(
        z.array(
          z.object({ box: z.array(z.number()), score: z.number(), class: z.number(), label: z.string().optional() }),
        ),
      ),
    }),
    z.object({ kind: z.literal('raw') }),
  ])
  .meta({ id: 'TensorReading' });

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

export const jobViewSchema = z
  .object({
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
      fileName: z.string().nullable().meta({
        description:
          "The uploaded file's name as the client sent it, sanitized: no path, no control characters, at most 200 characters. Null when none was sent.",
      }),
    }),
    metadata: z.record(z.string(), z.string()).meta({
      description:
        'The metadata given at submit: up to 20 string keys (40 characters) and values (500 characters); `{}` when none.',
      example: { customer: 'cus_42' },
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
    expiresAt: z.iso.datetime().nullable().meta({
      description: "When the job, its image and its result are deleted (the tier's retention); null when kept.",
    }),
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
    /**
     * A queued job's place among its model's queued jobs, in the order workers take them (priority,
     * then arrival): 1 is next. null for any other job, in webhook bodies, and when the queue cannot
     * be read.
     */
    queuePosition: z.number().int().min(1).nullable().meta({
      description:
        "A queued job's place in its model's queue as workers take it (priority, then arrival): 1 is next. null when not queued.",
    }),
    /**
     * Seconds until a queued job is expected to finish: the jobs ahead of it and itself at the
     * model's measured throughput, plus the model's load time when no worker serves it. null when not
     * queued or not known yet.
     */
    etaSeconds: z.number().min(0).nullable().meta({
      description:
        "Estimated seconds until a queued job finishes, from its queue position and the model's measured throughput (plus the model's load time when no worker serves it). null when not queued or unknown.",
    }),
    /** The deadlines the submit set; null fields when it set none. */
    deadlines: z
      .object({
        /** The job must start by then (`ttlSeconds` after its submit), or it becomes `expired`. */
        startBy: z.iso.datetime().nullable(),
        /** An attempt running longer than this fails with DEADLINE_EXCEEDED (`Cancel-After`). */
        cancelAfterSeconds: z.number().nullable(),
      })
      .meta({
        description:
          'The deadlines of the submit: `startBy` (from `ttlSeconds`; a job not started by then is `expired`) and `cancelAfterSeconds` (from `Cancel-After`; an attempt running longer fails with DEADLINE_EXCEEDED).',
      }),
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
  })
  .meta({ id: 'Job', description: 'A job: one image submitted for inference.' });

export type JobView = z.infer<typeof jobViewSchema>;
export type ErrorBodyView = z.infer<typeof errorBodySchema>;

/** Longest a request may wait for a job to finish (`?wait=` and `Prefer: wait=`), in seconds. */
export const maxWaitSeconds = 60;

/** The multipart form of `POST /v1/jobs`. */
export const submitJobFormSchema = z.object({
  image: z.string().meta({
    format: 'binary',
    description: 'The image (JPEG, PNG, WebP, GIF, AVIF or TIFF); the format is read from the bytes.',
  }),
  model: z.string().max(64).optional().meta({ description: "Model name; default: the server's DEFAULT_MODEL." }),
  version: z.string().max(64).optional().meta({ description: 'Model version; default: the live version.' }),
  webhook: z.string().max(2048).optional().meta({
    description: 'URL POSTed with the job when it reaches a final state (https; public addresses only).',
    format: 'uri',
  }),
  webhookEvents: z
    .string()
    .max(64)
    .optional()
    // No example: the reference page's request sample fills each field with its example, and
    // webhookEvents without a webhook URL is refused.
    .meta({
      description:
        'Comma-separated events the webhook is sent: `started` (the job began running), `completed` (its final state; the default), e.g. `started,completed`. Only with `webhook`.',
    }),
  ttlSeconds: z.string().max(16).optional().meta({
    description:
      'Seconds the job may wait to start (1 to 604800). A job not started by then becomes `expired`: it never runs and does not count against the quota.',
    example: '300',
  }),
  cancelAfter: z.string().max(16).optional().meta({
    description:
      'Execution deadline of each attempt, as the `Cancel-After` header: seconds (`90`) or a duration (`90s`, `5m`, `1h30m`), from 100 ms to 24 h. An attempt running longer fails with DEADLINE_EXCEEDED.',
    example: '5m',
  }),
  metadata: z.string().max(16_384).optional().meta({
    description:
      'A JSON object of up to 20 string keys (at most 40 characters) and string values (at most 500), e.g. `{"customer":"cus_42"}`: stored with the job, returned in its view and webhooks, and filterable with `metadata[KEY]=VALUE`. Refused with 400 `INVALID_METADATA` (`details.reason` says why).',
  }),
});

/** The multipart form of `POST /v1/jobs/batch`: the fields of a submit, with `image` given once per image. */
export const submitBatchFormSchema = submitJobFormSchema.extend({
  image: z.array(z.string().meta({ format: 'binary' })).meta({
    description:
      "The images, one file part named `image` each, in order; at most the tier's `maxBatchImages`. Every job of the batch gets the same model, version and webhook.",
  }),
});

/** Longest `ttlSeconds` a submit may give (a week), as for a form's. */
export const maxTtlSeconds = 7 * 24 * 3600;

/** Where the image of a job submitted by reference is: a URL the server fetches, or an upload. */
export const inputReferenceSchema = z.object({
  imageUrl: z.string().max(2048).optional().meta({
    description:
      'An image URL the server fetches (https to public addresses, or a host in INPUT_FETCH_ALLOW_HOSTS). Give this or `uploadId`.',
    format: 'uri',
  }),
  uploadId: z
    .string()
    .max(64)
    .optional()
    .meta({ description: 'The id of an upload made with POST /v1/uploads and PUT. Give this or `imageUrl`.' }),
});

const submitReferenceFields = {
  model: submitJobFormSchema.shape.model,
  version: submitJobFormSchema.shape.version,
  webhook: submitJobFormSchema.shape.webhook,
  webhookEvents: submitJobFormSchema.shape.webhookEvents,
  ttlSeconds: z.number().int().min(1).max(maxTtlSeconds).optional().meta({
    description: 'Seconds the job may wait to start (1 to 604800); not started by then, it becomes `expired`.',
  }),
  metadata: z.record(z.string(), z.unknown()).optional().meta({
    description:
      'Up to 20 string keys (at most 40 characters) and string values (at most 500), e.g. `{"customer":"cus_42"}`: stored with the job, returned in its view and webhooks, and filterable (`GET /v1/jobs?metadata[KEY]=VALUE`).',
  }),
  cancelAfter: z
    .union([z.number().positive(), z.string().max(32)])
    .optional()
    .meta({
      description:
        'Execution deadline of each attempt, as the `Cancel-After` header (which wins): seconds, or a duration (`90s`, `5m`, `1h30m`).',
    }),
  resultPrefix: z.string().max(200).optional().meta({
    description:
      "A result sink: when the job succeeds its result JSON is also written to `results/<resultPrefix>/<job id>.json` in the platform's blob store. Path segments of letters, digits, `.`, `_`, `-`.",
    example: 'customer-a/2026-12',
  }),
};

/** The JSON body of `POST /v1/jobs`: the image by reference instead of in the request. */
export const submitJobJsonSchema = z
  .object({ ...submitReferenceFields, ...inputReferenceSchema.shape })
  .strict()
  .meta({
    id: 'SubmitJobByReference',
    description:
      'A job whose image is fetched from `imageUrl` or taken from an upload (`uploadId`); exactly one of them.',
  });

/** The JSON body of `POST /v1/jobs/batch`: a list of references, with the fields every job shares. */
export const submitBatchJsonSchema = z
  .object({
    ...submitReferenceFields,
    inputs: z
      .array(inputReferenceSchema.strict())
      .min(1)
      .meta({ description: "One reference per job, in order; at most the tier's `maxBatchImages`." }),
  })
  .strict()
  .meta({ id: 'SubmitBatchByReference' });

/** `POST /v1/uploads`: what the client will PUT. */
export const createUploadBodySchema = z
  .object({
    contentType: z
      .string()
      .min(1)
      .max(100)
      .meta({ description: 'The Content-Type the PUT sends, e.g. `image/jpeg`.', example: 'image/jpeg' }),
    size: z
      .number()
      .int()
      .min(1)
      .meta({ description: "The exact byte length the PUT sends; at most the tier's upload limit.", example: 123456 }),
  })
  .strict()
  .meta({ id: 'CreateUpload' });

/** Where to PUT an upload's bytes, and the id to submit it by. */
export const uploadViewSchema = z
  .object({
    uploadId: z.string().meta({ description: 'Give it as `uploadId` in a JSON submit once the PUT succeeded.' }),
    url: z.string().meta({
      description:
        'PUT the bytes here: a presigned bucket URL, or this API itself (then with your API key) when it keeps blobs on its own disk.',
      format: 'uri',
    }),
    headers: z
      .record(z.string(), z.string())
      .optional()
      .meta({ description: 'Headers the PUT must send exactly as given.' }),
    expiresAt: z
      .string()
      .meta({ description: 'The PUT must be made, and the upload submitted, before this time.', format: 'date-time' }),
  })
  .meta({ id: 'Upload' });

export type SubmitJobJson = z.infer<typeof submitJobJsonSchema>;
export type SubmitBatchJson = z.infer<typeof submitBatchJsonSchema>;
export type CreateUploadBody = z.infer<typeof createUploadBodySchema>;
export type UploadView = z.infer<typeof uploadViewSchema>;

/** What became of one image of a batch: its job, or the error that image alone was refused with. */
export const batchItemViewSchema = z
  .object({
    /** The image's place in the request, from 0. */
    index: z.number().int().min(0),
    /** The HTTP status a single submit of this image would have been answered with (202, 200, 4xx, 5xx). */
    status: z.number().int(),
    job: jobViewSchema.nullable(),
    error: errorBodySchema.shape.error.nullable(),
  })
  .meta({ id: 'BatchItem' });

export const batchViewSchema = z
  .object({
    /** One entry per image, in the order of the request. */
    data: z.array(batchItemViewSchema),
    /** Images that have a job (new, or an earlier one answered again for its Idempotency-Key). */
    accepted: z.number().int().min(0),
    /** Images refused, each with its own error. */
    refused: z.number().int().min(0),
  })
  .meta({ id: 'Batch', description: 'The answer to a batch submit: a job or an error per image.' });

export type BatchItemView = z.infer<typeof batchItemViewSchema>;
export type BatchView = z.infer<typeof batchViewSchema>;

/** One attempt to deliver a job's webhook. */
export const webhookDeliveryViewSchema = z
  .object({
    /**
     * The delivery's id: the `webhook-id` (and `InferQ-Delivery`) header the receiver got, the same
     * on every attempt of one delivery (`attempt` tells them apart), so a receiver's log and this
     * one can be matched.
     */
    id: z.uuid().meta({
      description:
        'The delivery id: the `webhook-id` / `InferQ-Delivery` header the receiver got; the same on each attempt of one delivery.',
    }),
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
  })
  .meta({ id: 'WebhookDelivery' });

export const webhookDeliveryListViewSchema = z
  .object({
    data: z.array(webhookDeliveryViewSchema),
  })
  .meta({ id: 'WebhookDeliveryList' });

/** The caller's webhook signing secret. */
export const webhookSecretViewSchema = z
  .object({
    secret: z.string().meta({
      description:
        'The key of the webhook signatures (Standard Webhooks `webhook-signature`, and `InferQ-Signature`): `whsec_` and base64.',
      example: 'whsec_…',
    }),
  })
  .meta({ id: 'WebhookSecret' });

/** Event names sent in the `InferQ-Event` header: `job.started`, then one per final job status. */
export const webhookEvents = ['job.started', 'job.succeeded', 'job.failed', 'job.canceled', 'job.expired'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export type WebhookDeliveryView = z.infer<typeof webhookDeliveryViewSchema>;
export type WebhookDeliveryListView = z.infer<typeof webhookDeliveryListViewSchema>;
export type WebhookSecretView = z.infer<typeof webhookSecretViewSchema>;
