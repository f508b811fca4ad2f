import onnxProto from 'onnx-proto';
import type { ModelInput, TensorDatatype, TensorSpec } from './modelManifest.ts';

const { onnx } = onnxProto;

/** One graph input or output of an ONNX model: its name and dims (a number, a symbolic name, or null). */
export interface OnnxTensorInfo {
  name: string;
  dims: Array<number | string | null>;
  /** The ONNX element type (TensorProto.DataType), or null when the graph does not say. */
  elemType: number | null;
}

export interface OnnxModelInfo {
  /** Graph inputs that are fed (initializers, listed as inputs by older exporters, left out). */
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  /** The default-domain opset the model was written for. */
  opset: number | null;
  producer: string;
  /**
   * The files beside model.onnx that hold tensors of it (ONNX external data, as torch.onnx.export
   * writes `model.onnx.data`), in the order the model first names them, each with the bytes it
   * must hold at least. Empty when the weights are inside model.onnx.
   */
  externalData: OnnxExternalDataFile[];
}

/** One external data file of an ONNX model: its location (relative to model.onnx) and the bytes its tensors reach. */
export interface OnnxExternalDataFile {
  path: string;
  /** The largest `offset + length` a tensor names in it; 0 when a tensor takes the whole file. */
  minBytes: number;
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
    elemType: value.type?.tensorType?.elemType ?? null,
    dims: (value.type?.tensorType?.shape?.dim ?? []).map((dim) => (dim.dimValue !== null && dim.dimValue !== undefined && Number(dim.dimValue) > 0 ? Number(dim.dimValue) : dim.dimParam || null)),
  });
  const inputs = (graph.input ?? []).filter((input) => !initializers.has(input.name ?? '')).map(info);
  const outputs = (graph.output ?? []).map(info);
  if (inputs.length === 0) throw new Error('the ONNX graph has no input');
  if (outputs.length === 0) throw new Error('the ONNX graph has no output');
  const opset = (model.opsetImport ?? []).find((entry) => !entry.domain)?.version;
  return {
    inputs,
    outputs,
    opset: opset === undefined || opset === null ? null : Number(opset),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    externalData: externalDataOf(model),
  };
}

type Tensor = onnxProto.onnx.ITensorProto;
type Graph = onnxProto.onnx.IGraphProto;

/**
 * Every external data file the model's tensors name: initializers, sparse initializers, tensors in
 * node attributes (Constant), in subgraphs (If, Loop, Scan) and in local functions. A location is
 * kept as written; whether it is a safe relative path is the publisher's check.
 */
function externalDataOf(model: onnxProto.onnx.IModelProto): OnnxExternalDataFile[] {
  const files = new Map<string, number>();
  const tensor = (t: Tensor | null | undefined) => {
    if (!t || t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) return;
    const entries = new Map((t.externalData ?? []).map((entry) => [entry.key ?? '', entry.value ?? '']));
    const location = entries.get('location') ?? '';
    const end = entries.has('length') ? Number(entries.get('offset') ?? 0) + Number(entries.get('length')) : 0;
    files.set(location, Math.max(files.get(location) ?? 0, Number.isFinite(end) ? end : 0));
  };
  const nodes = (list: onnxProto.onnx.INodeProto[] | null | undefined) => {
    for (const node of list ?? []) {
      for (const attribute of node.attribute ?? []) {
        tensor(attribute.t);
        for (const t of attribute.tensors ?? []) tensor(t);
        if (attribute.g) graph(attribute.g);
        for (const g of attribute.graphs ?? []) graph(g);
      }
    }
  };
  const graph = (g: Graph) => {
    for (const t of g.initializer ?? []) tensor(t);
    for (const sparse of g.sparseInitializer ?? []) {
      tensor(sparse.values);
      tensor(sparse.indices);
    }
    nodes(g.node);
  };
  if (model.graph) graph(model.graph);
  for (const fn of model.functions ?? []) nodes(fn.node);
  return [...files].map(([path, minBytes]) => ({ path, minBytes }));
}

/**
 * Why the ONNX model's first input cannot take the manifest's input, or null when it can: it
 * must be 4-D, and each fixed dim must equal the manifest's in its layout (batch may be anything).
 */
export function onnxInputMismatch(info: Pick<OnnxModelInfo, 'inputs'>, input: Pick<ModelInput, 'width' | 'height' | 'channels' | 'layout'>): string | null {
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

/** ONNX element types (TensorProto.DataType) as the Open Inference Protocol names them. */
const onnxDatatypes: Record<number, TensorDatatype> = { 1: 'FP32', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'BYTES', 9: 'BOOL', 10: 'FP16', 11: 'FP64', 12: 'UINT32', 13: 'UINT64' };

/**
 * The tensor signature of an ONNX model: each input and output with its protocol datatype and
 * shape (a symbolic or unknown dim is -1). Throws an Error naming the tensor whose element type
 * the protocol has no name for (complex, bfloat16, float8) or that is not served (BYTES: strings).
 */
export function onnxTensorSignature(info: Pick<OnnxModelInfo, 'inputs' | 'outputs'>): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  const spec = (tensor: OnnxTensorInfo, role: string): TensorSpec => {
    const datatype = tensor.elemType === null ? undefined : onnxDatatypes[tensor.elemType];
    if (datatype === undefined) throw new Error(`the ${role} "${tensor.name}" has ONNX element type ${tensor.elemType ?? 'unknown'}, which the protocol has no datatype for`);
    if (datatype === 'BYTES') throw new Error(`the ${role} "${tensor.name}" is a string tensor (BYTES), which is not served`);
    return { name: tensor.name, datatype, shape: tensor.dims.map((dim) => (typeof dim === 'number' ? dim : -1)) };
  };
  return { inputs: info.inputs.map((tensor) => spec(tensor, 'input')), outputs: info.outputs.map((tensor) => spec(tensor, 'output')) };
}

/** Why the ONNX file does not have the tensor signature the manifest names, or null when it does. */
export function onnxSignatureMismatch(info: Pick<OnnxModelInfo, 'inputs' | 'outputs'>, manifest: { inputs: readonly TensorSpec[]; outputs: readonly TensorSpec[] }): string | null {
  let actual: { inputs: TensorSpec[]; outputs: TensorSpec[] };
  try {
    actual = onnxTensorSignature(info);
  } catch (error) {
    return (error as Error).message;
  }
  for (const role of ['inputs', 'outputs'] as const) {
    for (const declared of manifest[role]) {
      const found = actual[role].find((tensor) => tensor.name === declared.name);
      if (!found) return `the ONNX model has no ${role.slice(0, -1)} "${declared.name}"`;
      if (found.datatype !== declared.datatype) return `the ONNX ${role.slice(0, -1)} "${declared.name}" is ${found.datatype}, the manifest says ${declared.datatype}`;
      const fits = found.shape.length === declared.shape.length && found.shape.every((dim, i) => dim === -1 || dim === declared.shape[i]);
      if (!fits) return `the ONNX ${role.slice(0, -1)} "${declared.name}" is [${found.shape.join(', ')}], the manifest says [${declared.shape.join(', ')}]`;
    }
  }
  const missing = actual.inputs.find((tensor) => !manifest.inputs.some((declared) => declared.name === tensor.name));
  if (missing) return `the manifest does not name the ONNX input "${missing.name}"`;
  return null;
}
