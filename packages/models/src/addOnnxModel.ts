import { AppError } from '@inferq/core';
import type { ModelFile } from './computeModelHash.ts';
import { inspectOnnxModel, onnxTensorSignature } from './inspectOnnxModel.ts';
import { modelLimitsSchema, onnxFileName, outputReaderSchema, type ModelLimits, type ModelManifest, type OutputReader } from './modelManifest.ts';
import type { ModelRegistry, PublishResult } from './modelRegistry.ts';

export interface AddOnnxModelOptions {
  name: string;
  /** @defaultValue the next whole number after the model's highest numeric version, "1" for a new model */
  version?: string | undefined;
  /** model.onnx's bytes. */
  bytes: Uint8Array;
  /** The external data files model.onnx names (`model.onnx.data`), by the path it names them with. @defaultValue none */
  externalData?: ModelFile[];
  /** How the outputs are read (checked against the outputs). @defaultValue raw */
  reader?: unknown;
  limits?: unknown;
  /** Where the model came from, kept in the manifest. */
  source?: string | undefined;
  /** Runs the version once before it is published (the admin CLI's load check). */
  verify?: (folder: string, manifest: ModelManifest) => Promise<void>;
}

export interface AddOnnxModelResult extends PublishResult {
  version: string;
  /** Whether the version was made live: a model's first version is. */
  live: boolean;
}

/**
 * Adds an ONNX file as a tensor model version: reads its inputs, outputs, datatypes and shapes
 * from the graph, writes the manifest, publishes the version and makes it live when the model is
 * new (later versions are made live with set-live). VALIDATION_FAILED when the file is not an
 * ONNX model, has a tensor the protocol cannot carry, or the reader names an output it lacks.
 */
export async function addOnnxModel(registry: ModelRegistry, options: AddOnnxModelOptions): Promise<AddOnnxModelResult> {
  let signature: ReturnType<typeof onnxTensorSignature>;
  try {
    signature = onnxTensorSignature(inspectOnnxModel(options.bytes));
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', `${onnxFileName}: ${(error as Error).message}`, { details: { field: 'file' } });
  }
  const reader = parseOr<OutputReader>(outputReaderSchema, options.reader, 'reader');
  const limits = parseOr<ModelLimits>(modelLimitsSchema, options.limits, 'limits');
  const existing = await registry.resolve(options.name).catch(() => null);
  const versions = existing === null ? [] : (await registry.list()).find((entry) => entry.name === options.name)?.versions.map((entry) => entry.version) ?? [];
  const version = options.version ?? String(Math.max(0, ...versions.map(Number).filter(Number.isInteger)) + 1);
  const isNew = existing === null;
  const result = await registry.publish({
    name: options.name,
    version,
    files: [{ path: onnxFileName, bytes: options.bytes }, ...(options.externalData ?? [])],
    manifest: {
      format: 'onnx',
      inputs: signature.inputs,
      outputs: signature.outputs,
      ...(reader !== undefined ? { reader } : {}),
      ...(limits !== undefined ? { limits } : {}),
      ...(options.source !== undefined ? { source: options.source } : {}),
    },
    setLive: isNew,
    ...(options.verify ? { verify: options.verify } : {}),
  });
  return { ...result, version, live: isNew };
}

function parseOr<T>(schema: { safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, value: unknown, field: string): T | undefined {
  if (value === undefined) return undefined;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new AppError('VALIDATION_FAILED', `invalid ${field}: ${parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`).join('; ')}`, { details: { field } });
}
