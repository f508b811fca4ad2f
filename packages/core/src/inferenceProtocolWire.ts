import { z } from 'zod';

/**
 * Wire schemas of the Open Inference Protocol (KServe v2 REST) as InferQ speaks it under `/v2`:
 * the request is checked through them (`@inferq/tensors`), and the OpenAPI document and the
 * client types come from them.
 */
const parametersSchema = z.record(z.string(), z.unknown()).optional();

export const inferInputTensorSchema = z
  .object({
    name: z.string().min(1).max(256),
    shape: z.array(z.int().min(0)).max(16),
    datatype: z.string().meta({
      description:
        "BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32 or FP64; the model's own.",
    }),
    parameters: parametersSchema.meta({
      description:
        "`binary_data_size`: the tensor's bytes follow the JSON header (binary-data extension) instead of `data`.",
    }),
    data: z
      .unknown()
      .optional()
      .meta({ description: 'The elements in row-major order, flat or nested (BOOL as true/false).' }),
  })
  .meta({ id: 'InferInputTensor' });

export const inferRequestedOutputSchema = z
  .object({
    name: z.string().min(1).max(256),
    parameters: parametersSchema.meta({
      description: '`binary_data: true`: this output comes back as binary data after the JSON header.',
    }),
  })
  .meta({ id: 'InferRequestedOutput' });

export const inferRequestSchema = z
  .object({
    id: z.string().max(256).optional(),
    parameters: parametersSchema.meta({
      description:
        '`binary_data_output: true`: every output comes back binary. `webhook`, `webhook_events`: as in POST /v1/jobs.',
    }),
    inputs: z.array(inferInputTensorSchema).min(1).max(64),
    outputs: z
      .array(inferRequestedOutputSchema)
      .max(64)
      .optional()
      .meta({ description: "The outputs to return, in order; all of the model's when left out." }),
  })
  .meta({ id: 'InferRequest' });

export const inferOutputTensorSchema = z
  .object({
    name: z.string(),
    datatype: z.string(),
    shape: z.array(z.int()),
    parameters: z.object({ binary_data_size: z.int().optional() }).optional(),
    data: z.array(z.union([z.number(), z.boolean()])).optional(),
  })
  .meta({ id: 'InferOutputTensor' });

export const inferResponseSchema = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    outputs: z.array(inferOutputTensorSchema),
  })
  .meta({ id: 'InferResponse' });

export const protocolTensorMetadataSchema = z
  .object({ name: z.string(), datatype: z.string(), shape: z.array(z.int()) })
  .meta({ id: 'TensorMetadata' });

export const protocolModelMetadataSchema = z
  .object({
    name: z.string(),
    versions: z.array(z.string()),
    platform: z.string(),
    inputs: z.array(protocolTensorMetadataSchema),
    outputs: z.array(protocolTensorMetadataSchema),
  })
  .meta({ id: 'ModelMetadata' });

export const protocolServerMetadataSchema = z
  .object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) })
  .meta({ id: 'ServerMetadata' });

export const protocolErrorSchema = z
  .object({
    error: z.string(),
    /** The platform's stable error code; match it, never `error`'s text. */
    code: z.string(),
    details: z.unknown().optional(),
  })
  .meta({
    id: 'ProtocolError',
    description: 'The protocol\'s error shape, `{ "error": "…" }`, with the platform\'s stable `code` beside it.',
  });

export type InferRequestBody = z.infer<typeof inferRequestSchema>;
export type InferResponseBody = z.infer<typeof inferResponseSchema>;
