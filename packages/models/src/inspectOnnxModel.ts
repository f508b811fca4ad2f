import onnxProto from 'onnx-proto';
import type { ModelInput } from './modelManifest.ts';

const { onnx } = onnxProto;

/** One graph input or output of an ONNX model: its name and dims (a number, a symbolic name, or null). */
export interface OnnxTensorInfo {
  name: string;
  dims: Array<number | string | null>;
}

export interface OnnxModelInfo {
  /** Graph inputs that are fed (initializers, listed as inputs by older exporters, left out). */
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  /** The default-domain opset the model was written for. */
  opset: number | null;
  producer: string;
}

/**
 * Reads the graph signature of an ONNX model (protobuf) without running it. Throws an Error with
 * a plain reason when the bytes are not an ONNX model with a graph, an input and an output.
 */
export function inspectOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new Error(`not an ONNX model: ${(error as Error).message}`, { cause: error });
  }
  const graph = model.graph;
  if (!graph || (graph.node ?? []).length === 0) throw new Error('not an ONNX model: no graph nodes');
  const initializers = new Set((graph.initializer ?? []).map((tensor) => tensor.name));
  const info = (value: onnxProto.onnx.IValueInfoProto): OnnxTensorInfo => ({
    name: value.name ?? '',
    dims: (value.type?.tensorType?.shape?.dim ?? []).map((dim) => (dim.dimValue !== null && dim.dimValue !== undefined && Number(dim.dimValue) > 0 ? Number(dim.dimValue) : dim.dimParam || null)),
  });
  const inputs = (graph.input ?? []).filter((input) => !initializers.has(input.name ?? '')).map(info);
  const outputs = (graph.output ?? []).map(info);
  if (inputs.length === 0) throw new Error('the ONNX graph has no input');
  if (outputs.length === 0) throw new Error('the ONNX graph has no output');
  const opset = (model.opsetImport ?? []).find((entry) => !entry.domain)?.version;
  return { inputs, outputs, opset: opset === undefined || opset === null ? null : Number(opset), producer: [model.producerName, model.producerVersion].filter(Boolean).join(' ') };
}

/**
 * Why the ONNX model's first input cannot take the manifest's input, or null when it can: it
 * must be 4-D, and each fixed dim must equal the manifest's in its layout (batch may be anything).
 */
export function onnxInputMismatch(info: OnnxModelInfo, input: Pick<ModelInput, 'width' | 'height' | 'channels' | 'layout'>): string | null {
  const first = info.inputs[0] as OnnxTensorInfo;
  if (first.dims.length !== 4) return `the ONNX input "${first.name}" has ${first.dims.length} dims; image models take 4 (${input.layout.toUpperCase()})`;
  const expected = input.layout === 'nchw' ? [input.channels, input.height, input.width] : [input.height, input.width, input.channels];
  const actual = first.dims.slice(1);
  for (let i = 0; i < 3; i++) {
    const dim = actual[i];
    if (typeof dim === 'number' && dim !== expected[i]) {
      return `the ONNX input "${first.name}" is [${first.dims.map((d) => d ?? '?').join(', ')}], the manifest describes ${input.layout.toUpperCase()} [batch, ${expected.join(', ')}]`;
    }
  }
  return null;
}
