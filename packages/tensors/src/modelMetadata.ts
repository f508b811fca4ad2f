import type { ModelManifest, TensorSpec } from '@inferq/models';

/** The protocol's model metadata response (`GET /v2/models/{name}[/versions/{v}]`). */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/**
 * A version's metadata as the protocol shapes it. A tensor model lists its inputs and outputs as
 * the manifest has them; an image model is an image preprocessing step in front of one FP32
 * tensor, listed in its layout (its jobs take images, through POST /v1/jobs).
 */
export function modelMetadata(manifest: ModelManifest, versions: readonly string[]): ModelMetadata {
  const platform =
    manifest.format === 'onnx'
      ? 'onnxruntime_onnx'
      : manifest.format === 'saved_model'
        ? 'tensorflow_savedmodel'
        : 'tensorflowjs';
  if (manifest.inputs && manifest.outputs)
    return {
      name: manifest.name,
      versions: [...versions],
      platform,
      inputs: manifest.inputs,
      outputs: manifest.outputs,
    };
  const input = manifest.input;
  const shape =
    input === undefined
      ? [-1]
      : input.layout === 'nchw'
        ? [-1, input.channels, input.height, input.width]
        : [-1, input.height, input.width, input.channels];
  const outputWidth = manifest.output?.kind === 'classification' ? manifest.output.labels.length : -1;
  return {
    name: manifest.name,
    versions: [...versions],
    platform,
    inputs: [{ name: 'image', datatype: 'FP32', shape }],
    outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, outputWidth] }],
  };
}
