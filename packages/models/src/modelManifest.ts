import { z } from 'zod';
import { AppError } from '@inferq/core';
import { modelNotReady } from './modelNotReady.ts';

/**
 * A model manifest is the `manifest.json` stored beside a model version's `model.json`. It says
 * how to feed the model (input size, resize and scaling) and how to read its output (labels,
 * final activation). The worker trusts nothing else about a model.
 */

/** Model names and versions become folder names, so they are kept to a safe character set. */
export const modelNamePattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const modelVersionPattern = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/;

export const modelNameSchema = z.string().regex(modelNamePattern, 'lowercase letters, digits, "_" and "-", at most 64');
export const modelVersionSchema = z.string().regex(modelVersionPattern, 'letters, digits, ".", "_", "+" and "-", at most 64');

/**
 * - `layers` / `graph`: TensorFlow.js model.json + weight shards; every backend runs them.
 * - `saved_model`: a TensorFlow SavedModel folder (saved_model.pb, variables/); only the
 *   libtensorflow backends (`@tensorflow/tfjs-node`, `-gpu`) can run it, through
 *   `tf.node.loadSavedModel`.
 * - `onnx`: one `model.onnx` (PyTorch's `torch.onnx.export`, Keras via tf2onnx, …), run by ONNX
 *   Runtime. Its first input and first output are used; `input.layout` says whether it takes
 *   NHWC or NCHW.
 */
export const modelFormats = ['layers', 'graph', 'saved_model', 'onnx'] as const;

/**
 * How the model's input tensor is laid out: `nhwc` `[batch, height, width, channels]` (TF.js,
 * Keras), or `nchw` `[batch, channels, height, width]` (PyTorch exports).
 */
export const inputLayouts = ['nhwc', 'nchw'] as const;
export type InputLayout = (typeof inputLayouts)[number];
export type ModelFormat = (typeof modelFormats)[number];

/** Which graph of a SavedModel is served: its tags and signature. */
export const savedModelSignatureSchema = z.object({
  tags: z.array(z.string().min(1)).min(1).default(['serve']),
  signature: z.string().min(1).default('serving_default'),
});

/** How the decoded image is fitted to the input size; the names are sharp's `fit` values. */
export const resizeModes = ['fill', 'cover', 'contain'] as const;
export type ResizeMode = (typeof resizeModes)[number];

/**
 * The resampling used when fitting the image (sharp's kernel names). `nearest` point-samples, as
 * `tf.image.resizeBilinear` and Keras `load_img` effectively do when shrinking: models trained
 * that way can score smoothed inputs quite differently. The others average over each output
 * pixel's footprint (anti-aliased). `alignCorners` is exactly `tf.image.resizeBilinear(image,
 * size, alignCorners = true)` on the full-size decode, in floats (nsfwjs's `classify()`; needs
 * resize `fill`). Use what the model was trained with.
 */
export const resizeKernels = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3', 'alignCorners'] as const;
export type ResizeKernel = (typeof resizeKernels)[number];

/**
 * How 0..255 pixel values become model inputs, per channel: `value * a + b`.
 * - `divide`: `x / divisor`; divisor 255 gives [0, 1].
 * - `centered`: `x / 127.5 - 1`, giving [-1, 1] (MobileNet, Inception).
 * - `meanStd`: `(x / 255 - mean[c]) / std[c]`, one entry per channel (ImageNet statistics).
 */
export const inputScaleSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('divide'), divisor: z.number().positive() }),
  z.object({ mode: z.literal('centered') }),
  z.object({
    mode: z.literal('meanStd'),
    mean: z.array(z.number()).min(1).max(3),
    std: z.array(z.number().positive()).min(1).max(3),
  }),
]);
export type InputScale = z.infer<typeof inputScaleSchema>;

export const modelInputSchema = z
  .object({
    width: z.int().min(1).max(4096),
    height: z.int().min(1).max(4096),
    /** 1: greyscale, 3: colour. Alpha is always flattened away. */
    channels: z.union([z.literal(1), z.literal(3)]),
    resize: z.enum(resizeModes),
    resizeKernel: z.enum(resizeKernels).default('lanczos3'),
    scale: inputScaleSchema,
    /** Order of the colour channels in the input tensor; ignored for one channel. */
    channelOrder: z.enum(['rgb', 'bgr']).default('rgb'),
    /** NHWC or NCHW; TF.js formats are always NHWC. */
    layout: z.enum(inputLayouts).default('nhwc'),
  })
  .superRefine((input, ctx) => {
    if (input.resizeKernel === 'alignCorners' && input.resize !== 'fill') {
      ctx.addIssue({ code: 'custom', path: ['resize'], message: "resizeKernel alignCorners stretches the image: resize must be 'fill'" });
    }
    if (input.scale.mode !== 'meanStd') return;
    for (const key of ['mean', 'std'] as const) {
      if (input.scale[key].length !== input.channels) {
        ctx.addIssue({ code: 'custom', path: ['scale', key], message: `needs one value per channel (${input.channels})` });
      }
    }
  });
export type ModelInput = z.infer<typeof modelInputSchema>;

/**
 * The model's own final activation, which decides how its output is read:
 * - `softmax`: the output already holds class probabilities that sum to 1.
 * - `sigmoid`: independent per-label probabilities (multi-label); used as they are.
 * - `logits`: the output holds logits and the worker applies softmax, so scores are probabilities.
 * - `none`: no activation; the scores are the output as the model gives it (logits stay logits).
 *   Labels are still ranked by it.
 */
export const outputActivations = ['softmax', 'sigmoid', 'logits', 'none'] as const;
export type OutputActivation = (typeof outputActivations)[number];

export const modelOutputSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('classification'),
    /** One label per output unit, in the model's output order. */
    labels: z.array(z.string().min(1)).min(1),
    activation: z.enum(outputActivations),
  }),
  /** An output vector with no labels (embeddings, regressions); returned as it is. */
  z.object({ kind: z.literal('raw') }),
]);
export type ModelOutput = z.infer<typeof modelOutputSchema>;

/**
 * The Open Inference Protocol's tensor datatypes. ONNX Runtime runs all of them but BYTES (strings),
 * which `models add` refuses.
 */
export const tensorDatatypes = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type TensorDatatype = (typeof tensorDatatypes)[number];

/**
 * One named input or output of a tensor model: its datatype and shape. `-1` is a dynamic axis; a
 * dynamic first axis is the batch axis, on which the worker stacks requests with equal other dims.
 */
export const tensorSpecSchema = z.object({
  name: z.string().min(1).max(256),
  datatype: z.enum(tensorDatatypes),
  shape: z.array(z.int().min(-1)).max(16),
});
export type TensorSpec = z.infer<typeof tensorSpecSchema>;

/**
 * How a tensor model's outputs are read into the job's `reading`, beside the tensors themselves:
 * - `classification`: one output of scores per label; top-k labels (today's image behaviour).
 * - `embedding`: one output vector per input row, optionally L2-normalized.
 * - `detection`: boxes `[n, 4]`, scores `[n]` and classes `[n]` outputs (a batch axis in front
 *   allowed), kept where the score reaches `minScore`.
 * - `raw`: the tensors only.
 * `output` names the output read; the first output when left out.
 */
export const outputReaderSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('classification'),
    output: z.string().min(1).optional(),
    labels: z.array(z.string().min(1)).min(1),
    activation: z.enum(outputActivations).default('none'),
    /** @defaultValue 5 */
    topK: z.int().min(1).max(1000).default(5),
  }),
  z.object({ kind: z.literal('embedding'), output: z.string().min(1).optional(), normalize: z.boolean().default(false) }),
  z.object({
    kind: z.literal('detection'),
    boxes: z.string().min(1),
    scores: z.string().min(1),
    classes: z.string().min(1).optional(),
    labels: z.array(z.string().min(1)).optional(),
    /** @defaultValue 0 */
    minScore: z.number().min(0).default(0),
  }),
  z.object({ kind: z.literal('raw') }),
]);
export type OutputReader = z.infer<typeof outputReaderSchema>;
export const outputReaderKinds = ['classification', 'embedding', 'detection', 'raw'] as const;

export const modelLimitsSchema = z.object({
  /** Most inputs the worker puts in one batch for this model. */
  maxBatchSize: z.int().min(1).max(1024).optional(),
  /** Longest a queued input waits for a batch to fill. */
  maxDelayMs: z.int().min(0).max(60_000).optional(),
  /** Longest one batch may run before the attempt fails with TIMEOUT. */
  timeoutMs: z.int().min(1).max(3_600_000).optional(),
  /**
   * The p99 latency (submit to result, in the worker's batcher) that `inferq-admin models tune`
   * keeps when it picks maxBatchSize and maxDelayMs. @defaultValue 1000
   */
  latencyBudgetMs: z.int().min(1).max(600_000).optional(),
});
export type ModelLimits = z.infer<typeof modelLimitsSchema>;

/** The manifest's fields, without the checks across fields (for `.omit` / `.pick`). */
export const modelManifestFields = z.object({
  name: modelNameSchema,
  version: modelVersionSchema,
  format: z.enum(modelFormats),
  /** An image model: how an uploaded image becomes its one input tensor. Absent on tensor models. */
  input: modelInputSchema.optional(),
  /** An image model: how its one output is read. Absent on tensor models (see `reader`). */
  output: modelOutputSchema.optional(),
  /** A tensor model (format onnx): its named inputs, as `models add` reads them from the file. */
  inputs: z.array(tensorSpecSchema).min(1).max(64).optional(),
  /** A tensor model: its named outputs. */
  outputs: z.array(tensorSpecSchema).min(1).max(64).optional(),
  /** A tensor model: how its outputs are read. @defaultValue raw */
  reader: outputReaderSchema.optional(),
  /** sha256 (hex) of model.json and its weight shards, as `computeModelHash` computes it. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
  createdAt: z.iso.datetime({ offset: true }),
  /** Where the weights came from, e.g. `nsfwjs@4.4.0 MobileNetV2`. */
  source: z.string().max(500).optional(),
  /** Measured quality, e.g. `{ testAccuracy: 0.93 }`. */
  metrics: z.record(z.string(), z.number()).optional(),
  limits: modelLimitsSchema.optional(),
  /** For `saved_model` only: the tags and signature to load. @defaultValue serve / serving_default */
  savedModel: savedModelSignatureSchema.optional(),
  /**
   * A TF.js version that also holds `model.onnx`, the same weights converted (the shipped models
   * get one from `layersModelToOnnx`): its sha256. Workers with ONNX Runtime serve that file,
   * others the TF.js files; `input.layout` is the ONNX model's input layout.
   */
  onnx: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits') }).optional(),
});

export const modelManifestSchema = modelManifestFields.superRefine((manifest, ctx) => {
  if (manifest.inputs !== undefined || manifest.outputs !== undefined) {
    if (manifest.format !== 'onnx') ctx.addIssue({ code: 'custom', path: ['format'], message: 'tensor models (inputs, outputs) are onnx' });
    if (manifest.inputs === undefined || manifest.outputs === undefined) ctx.addIssue({ code: 'custom', path: ['inputs'], message: 'a tensor model names both its inputs and its outputs' });
    if (manifest.input !== undefined || manifest.output !== undefined) ctx.addIssue({ code: 'custom', path: ['input'], message: 'a tensor model has inputs and outputs, not an image input and output' });
    const outputs = new Set((manifest.outputs ?? []).map((o) => o.name));
    const reader = manifest.reader;
    const named = reader === undefined ? [] : reader.kind === 'detection' ? [reader.boxes, reader.scores, reader.classes] : reader.kind === 'raw' ? [] : [reader.output];
    for (const name of named) if (name !== undefined && !outputs.has(name)) ctx.addIssue({ code: 'custom', path: ['reader'], message: `the model has no output "${name}"` });
    return;
  }
  if (manifest.reader !== undefined) ctx.addIssue({ code: 'custom', path: ['reader'], message: 'reader is for tensor models; an image model reads its output per `output`' });
  if (manifest.input === undefined) ctx.addIssue({ code: 'custom', path: ['input'], message: 'an image model needs input (or a tensor model inputs and outputs)' });
  if (manifest.output === undefined) ctx.addIssue({ code: 'custom', path: ['output'], message: 'an image model needs output' });
  if (manifest.input === undefined) return;
  if (manifest.format !== 'onnx' && manifest.onnx === undefined && manifest.input.layout !== 'nhwc') {
    ctx.addIssue({ code: 'custom', path: ['input', 'layout'], message: 'TF.js models take NHWC input' });
  }
  if (manifest.format === 'onnx' && manifest.onnx !== undefined) ctx.addIssue({ code: 'custom', path: ['onnx'], message: 'an onnx version is its model.onnx; the onnx field is for TF.js versions' });
});

/** A parsed manifest (defaults applied). */
export type ModelManifest = z.infer<typeof modelManifestSchema>;
/** An image model's manifest: an image preprocessing step in front of one input tensor. */
export type ImageModelManifest = ModelManifest & { input: ModelInput; output: ModelOutput };
/** A tensor model's manifest: named inputs and outputs taken as tensors. */
export type TensorModelManifest = ModelManifest & { inputs: TensorSpec[]; outputs: TensorSpec[] };

export function isTensorManifest<M extends Pick<ModelManifest, 'inputs' | 'outputs'>>(manifest: M): manifest is M & { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  return manifest.inputs !== undefined && manifest.outputs !== undefined;
}

export function isImageManifest<M extends Pick<ModelManifest, 'input' | 'output'>>(manifest: M): manifest is M & { input: ModelInput; output: ModelOutput } {
  return manifest.input !== undefined && manifest.output !== undefined;
}

/**
 * The image input of an image model. A tensor model has none: asking for it is MODEL_KIND_MISMATCH
 * (an image sent to a model that takes tensors).
 */
export function imageInputOf(manifest: Pick<ModelManifest, 'name' | 'version' | 'input'>): ModelInput {
  if (manifest.input !== undefined) return manifest.input;
  throw new AppError('MODEL_KIND_MISMATCH', `model ${manifest.name}@${manifest.version} takes tensors, not an image: send them to /v2/models/${manifest.name}/infer`, {
    details: { model: manifest.name, version: manifest.version, takes: 'tensors' },
  });
}

/** The output reading of an image model (classification or raw); tensor models have `reader`. */
export function imageOutputOf(manifest: Pick<ModelManifest, 'name' | 'version' | 'output'>): ModelOutput {
  return manifest.output ?? { kind: 'raw' };
}

/** A manifest as written to disk (defaults may be left out). */
export type ModelManifestInput = z.input<typeof modelManifestSchema>;

export const manifestFileName = 'manifest.json';
export const modelJsonFileName = 'model.json';
export const savedModelFileName = 'saved_model.pb';
export const onnxFileName = 'model.onnx';

/** Numbers of input values one image turns into: width × height × channels. */
export function inputSize(input: ModelInput): number {
  return input.width * input.height * input.channels;
}

/**
 * Validates a manifest read from `location`. Throws MODEL_NOT_READY (`invalid-manifest`) with the
 * zod issues in `details.issues`.
 */
export function parseModelManifest(json: unknown, location: string): ModelManifest {
  const result = modelManifestSchema.safeParse(json);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  const summary = issues.map((issue) => `${issue.path || '(root)'}: ${issue.message}`).join('; ');
  throw modelNotReady(location, 'invalid-manifest', `invalid model manifest at ${location}: ${summary}`, { issues });
}
