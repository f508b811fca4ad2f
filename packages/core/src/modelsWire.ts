import { z } from 'zod';

/**
 * Wire shapes of the model routes: GET /v1/models (what is served, by which workers, and any
 * swap under way) and the admin routes that publish a version and switch the live one.
 *
 * Terms: a model has versions; one is live (what a job that names no version gets). A worker
 * has a version "loaded" when it can run jobs on it now. A swap is the time between an
 * operator making a version live and every worker serving it.
 */

export const swapFailureSchema = z.object({
  workerId: z.string(),
  version: z.string(),
  code: z.string(),
  /** MODEL_NOT_READY's `details.reason`: `hash-mismatch`, `missing-weights`, `format-unsupported`, … */
  reason: z.string().nullable(),
  message: z.string(),
});

export const tensorSpecViewSchema = z
  .object({ name: z.string(), datatype: z.string(), shape: z.array(z.number().int()) })
  .meta({ id: 'TensorSpec' });

export const modelVersionViewSchema = z
  .object({
    version: z.string(),
    live: z.boolean(),
    format: z.string(),
    sha256: z.string(),
    createdAt: z.string(),
    source: z.string().nullable(),
    /** An image model's input size; null for a tensor model. */
    input: z.object({ width: z.number().int(), height: z.number().int(), channels: z.number().int() }).nullable(),
    /** A tensor model's named inputs and outputs (`-1`: a dynamic dim) and how its outputs are read; null for an image model. */
    tensors: z
      .object({
        inputs: z.array(tensorSpecViewSchema),
        outputs: z.array(tensorSpecViewSchema),
        reader: z.enum(['classification', 'embedding', 'detection', 'raw']),
      })
      .nullable(),
    /** Class labels in output order; null for raw outputs. */
    labels: z.array(z.string()).nullable(),
    metrics: z.record(z.string(), z.number()).nullable(),
    limits: z
      .object({
        maxBatchSize: z.number().int().optional(),
        maxDelayMs: z.number().int().optional(),
        timeoutMs: z.number().int().optional(),
      })
      .nullable(),
    /** Live workers that have this version loaded. */
    workersReady: z.number().int(),
    /**
     * The engines and providers running this version on the live workers that serve it as their
     * live version (`onnxruntime-cpu`, `onnxruntime-cuda`, `tfjs-wasm`, …), each once; empty while
     * none does.
     */
    engines: z.array(z.string()),
    /** The browser-loadable model.json (public, immutable); null for models served from elsewhere. */
    modelUrl: z.string().nullable(),
  })
  .meta({ id: 'ModelVersion' });

export const modelViewSchema = z
  .object({
    name: z.string(),
    liveVersion: z.string().nullable(),
    remote: z.boolean(),
    versions: z.array(modelVersionViewSchema),
    /** Live workers that serve this model (any version). */
    workers: z.number().int(),
    /** A swap under way: some worker serving the model does not run the live version yet. */
    swap: z
      .object({
        to: z.string(),
        /** Workers already serving `to`. */
        switched: z.number().int(),
        /** Workers loading it now. */
        loading: z.number().int(),
        /** Workers whose load failed: they keep serving their old version. */
        failures: z.array(swapFailureSchema),
      })
      .nullable(),
    /** Version folders that exist but cannot be served, and why. */
    problems: z.array(z.object({ version: z.string(), reason: z.string(), message: z.string() })),
    /** Workers that should serve this model but could not load any version of it (they serve their other models). */
    loadFailures: z.array(swapFailureSchema),
  })
  .meta({ id: 'Model' });
export type ModelView = z.infer<typeof modelViewSchema>;

export const modelWorkerViewSchema = z
  .object({
    workerId: z.string(),
    host: z.string(),
    /** tensorflow-gpu, tensorflow, wasm or cpu: the TF.js backend of this worker. */
    backend: z.string(),
    /** ONNX Runtime's execution provider here (null: not running), and why better providers were skipped. */
    onnxRuntime: z
      .object({ provider: z.string().nullable(), skipped: z.array(z.object({ name: z.string(), reason: z.string() })) })
      .nullable(),
    /** Each served model's live version and the engine running it (`onnxruntime-cpu`, `tfjs-wasm`, …). */
    models: z.array(
      z.object({ name: z.string(), version: z.string(), engine: z.string().nullable(), loaded: z.array(z.string()) }),
    ),
  })
  .meta({ id: 'ModelWorker' });

export const modelsViewSchema = z
  .object({
    models: z.array(modelViewSchema),
    workers: z.array(modelWorkerViewSchema),
  })
  .meta({ id: 'ModelList', description: 'The models, their versions and readiness, and the workers that serve them.' });
export type ModelsView = z.infer<typeof modelsViewSchema>;

/**
 * POST /v1/admin/models/:name/versions: registers a version from the TF.js model.json at `url`
 * (its shards are fetched from beside it). The manifest describes how to feed the model and read
 * its output; the hash and date are filled in.
 */
export const publishModelVersionBodySchema = z.object({
  version: z.string().min(1).max(64),
  url: z.url({ protocol: /^https?$/ }),
  /** `layers` / `graph`: `url` is a TF.js model.json (shards beside it); `onnx`: `url` is the .onnx file. */
  format: z.enum(['layers', 'graph', 'onnx']),
  input: z.record(z.string(), z.unknown()),
  output: z.record(z.string(), z.unknown()),
  source: z.string().max(500).optional(),
  metrics: z.record(z.string(), z.number()).optional(),
  limits: z.record(z.string(), z.unknown()).optional(),
  /** Make it live at once. @defaultValue false */
  live: z.boolean().default(false),
});
export type PublishModelVersionBody = z.infer<typeof publishModelVersionBodySchema>;

export const setLiveVersionBodySchema = z.object({ version: z.string().min(1).max(64) });
