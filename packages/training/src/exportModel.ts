import type * as tf from '@tensorflow/tfjs';
import { onnxFileForLayers } from '@inferq/inference';
import { ModelRegistry, modelJsonFileName, type PublishManifest, type PublishResult } from '@inferq/models';
import { captureArtifacts, weightBytes } from './checkpoints.ts';

export interface ExportModelOptions {
  /** The registry root (MODELS_DIR). */
  registryRoot: string;
  name: string;
  version: string;
  /** Everything of the manifest but name, version, format, hash and date. */
  manifest: Omit<PublishManifest, 'format'>;
  /** @defaultValue false */
  setLive?: boolean;
}

/**
 * Publishes a trained layers model as a new registry version: model.json (topology and weight
 * specs, no training config or optimizer: serving needs neither), one weight shard, and model.onnx
 * converted from them (ONNX Runtime serves it where the worker runs it).
 */
export async function exportModel(model: tf.LayersModel, options: ExportModelOptions): Promise<PublishResult> {
  const artifacts = await captureArtifacts(model);
  const shard = 'group1-shard1of1.bin';
  const modelJson = {
    format: 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [shard], weights: artifacts.weightSpecs ?? [] }],
  };
  return new ModelRegistry({ root: options.registryRoot }).publish({
    name: options.name,
    version: options.version,
    files: withOnnx([
      { path: modelJsonFileName, bytes: Buffer.from(JSON.stringify(modelJson)) },
      { path: shard, bytes: weightBytes(artifacts.weightData) },
    ]),
    manifest: { ...options.manifest, format: 'layers' },
    setLive: options.setLive ?? false,
  });
}

function withOnnx(files: Array<{ path: string; bytes: Uint8Array }>): Array<{ path: string; bytes: Uint8Array }> {
  return [...files, onnxFileForLayers(files)];
}
