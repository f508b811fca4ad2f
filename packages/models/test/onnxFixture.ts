import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export interface TinyOnnxModel {
  /** model.onnx */
  model: Uint8Array;
  /** The weights as the external data file holds them (empty when they are inside model.onnx). */
  data: Uint8Array;
}

export interface TinyOnnxOptions {
  /** Where the weights go: inside model.onnx, or the external data file of this name. @defaultValue inside */
  externalData?: string;
  /** The operator after Flatten; one ONNX Runtime lacks makes a model that parses and cannot load. @defaultValue 'MatMul' */
  opType?: string;
}

/**
 * A 2×2 RGB image classifier over 2 labels, NCHW, batch dynamic: logits = flatten(image) · W, with
 * W (12×2) holding 1 for the first label's red pixels and 1 for the second label's blue ones. The
 * weights can be written as ONNX external data, as torch.onnx.export does (`model.onnx.data`).
 */
export function tinyOnnxModel(options: TinyOnnxOptions = {}): TinyOnnxModel {
  const weights = new Float32Array(12 * 2);
  for (let pixel = 0; pixel < 4; pixel++) {
    weights[pixel * 2] = 1; // channel 0 (red), pixels 0–3 → label 0
    weights[(8 + pixel) * 2 + 1] = 1; // channel 2 (blue) → label 1
  }
  const data = new Uint8Array(weights.buffer);
  const initializer = options.externalData
    ? {
        name: 'w',
        dims: [12, 2],
        dataType: onnx.TensorProto.DataType.FLOAT,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: options.externalData },
          { key: 'offset', value: '0' },
          { key: 'length', value: String(data.byteLength) },
        ],
      }
    : { name: 'w', dims: [12, 2], dataType: onnx.TensorProto.DataType.FLOAT, rawData: data };
  const tensor = (name: string, dims: Array<number | string>) => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const model = onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      producerName: 'inferq-test',
      graph: {
        name: 'tiny',
        node: [
          { opType: 'Flatten', input: ['image'], output: ['flat'], name: 'flatten', attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
          { opType: options.opType ?? 'MatMul', input: ['flat', 'w'], output: ['logits'], name: 'matmul' },
        ],
        initializer: [initializer],
        input: [tensor('image', ['batch', 3, 2, 2])],
        output: [tensor('logits', ['batch', 2])],
      },
    }),
  ).finish();
  return { model, data: options.externalData ? data : new Uint8Array() };
}

/** The manifest of {@link tinyOnnxModel}: raw logits, pixels divided by 255. */
export const tinyOnnxManifest = {
  format: 'onnx' as const,
  input: { width: 2, height: 2, channels: 3 as const, resize: 'fill' as const, layout: 'nchw' as const, scale: { mode: 'divide' as const, divisor: 255 } },
  output: { kind: 'classification' as const, labels: ['red', 'blue'], activation: 'none' as const },
};
