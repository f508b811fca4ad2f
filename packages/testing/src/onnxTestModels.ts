import onnxProto from 'onnx-proto';

/**
 * Small ONNX models built here, from the ONNX protobuf schema, for the tests and benchmarks of
 * tensor models: each a few nodes with known answers, so a test can check the numbers.
 */
const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

type Dim = number | string;
interface ValueInfo {
  name: string;
  type: number;
  dims: Dim[];
}

function valueInfo({ name, type, dims }: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: type,
        shape: { dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })) },
      },
    },
  };
}

function floats(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  return { name, dims, dataType: T.FLOAT, floatData: values };
}

function int64s(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  return { name, dims, dataType: T.INT64, int64Data: values };
}

function model(
  name: string,
  graph: {
    node: onnxProto.onnx.INodeProto[];
    initializer?: onnxProto.onnx.ITensorProto[];
    input: ValueInfo[];
    output: ValueInfo[];
  },
): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'inferq-test-models',
      graph: {
        name,
        node: graph.node,
        initializer: graph.initializer ?? [],
        input: graph.input.map(valueInfo),
        output: graph.output.map(valueInfo),
      },
    }),
  ).finish();
}

/** Two inputs `a`, `b` FP32 [batch, 3] → `sum` (a + b) and `product` (a × b), FP32 [batch, 3]. */
export function twoInputModel(): Uint8Array {
  return model('two-input', {
    node: [
      { opType: 'Add', input: ['a', 'b'], output: ['sum'] },
      { opType: 'Mul', input: ['a', 'b'], output: ['product'] },
    ],
    input: [
      { name: 'a', type: T.FLOAT, dims: ['batch', 3] },
      { name: 'b', type: T.FLOAT, dims: ['batch', 3] },
    ],
    output: [
      { name: 'sum', type: T.FLOAT, dims: ['batch', 3] },
      { name: 'product', type: T.FLOAT, dims: ['batch', 3] },
    ],
  });
}

/**
 * `input_ids` INT64 [batch, sequence] → each token's row of the initializer `table`, averaged over
 * the sequence, times the initializer `head` → `logits`: the text classifiers' graph.
 */
function meanEmbeddingNodes(head: string): onnxProto.onnx.INodeProto[] {
  return [
    {
      opType: 'Gather',
      input: ['table', 'input_ids'],
      output: ['embedded'],
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
    },
    {
      opType: 'ReduceMean',
      input: ['embedded'],
      output: ['pooled'],
      attribute: [
        { name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [1] },
        { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 },
      ],
    },
    { opType: 'MatMul', input: ['pooled', head], output: ['logits'] },
  ];
}

/** The token model's embedding table: token t's row is [t, 2t, 1, 0]. */
export const tokenVocabulary = 16;
/** Its classifier: scores = mean embedding × W, W's columns are dims 0, 1 and 2 (labels below). */
export const tokenLabels = ['first', 'second', 'bias'];

/**
 * A text classifier over token ids: `input_ids` INT64 [batch, sequence] → the mean of each
 * token's embedding (row t: [t, 2t, 1, 0]) times W → `logits` FP32 [batch, 3] = [mean t, 2 mean t, 1].
 */
export function tokenClassifierModel(): Uint8Array {
  const table = Array.from({ length: tokenVocabulary }, (_, t) => [t, 2 * t, 1, 0]).flat();
  return model('token-classifier', {
    node: meanEmbeddingNodes('w'),
    initializer: [
      floats('table', [tokenVocabulary, 4], table),
      floats('w', [4, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]),
    ],
    input: [{ name: 'input_ids', type: T.INT64, dims: ['batch', 'sequence'] }],
    output: [{ name: 'logits', type: T.FLOAT, dims: ['batch', 3] }],
  });
}

/** An embedding model: `features` FP32 [batch, 4] → `embedding` FP32 [batch, 2] = [x0 + x1, x2 + x3]. */
export function embeddingModel(): Uint8Array {
  return model('embedding', {
    node: [{ opType: 'MatMul', input: ['features', 'w'], output: ['embedding'] }],
    initializer: [floats('w', [4, 2], [1, 0, 1, 0, 0, 1, 0, 1])],
    input: [{ name: 'features', type: T.FLOAT, dims: ['batch', 4] }],
    output: [{ name: 'embedding', type: T.FLOAT, dims: ['batch', 2] }],
  });
}

/**
 * A detector-like model with three outputs: `image` FP32 [batch, 4] →
 * `boxes` FP32 [batch, 2, 4] (the input twice), `scores` FP32 [batch, 2] = sigmoid([x0, -x0]),
 * `classes` INT64 [batch, 2] = [0, 1].
 */
export function detectorModel(): Uint8Array {
  return model('detector', {
    node: [
      { opType: 'Tile', input: ['image', 'repeats'], output: ['tiled'] },
      { opType: 'Reshape', input: ['tiled', 'box_shape'], output: ['boxes'] },
      { opType: 'MatMul', input: ['image', 'w'], output: ['raw_scores'] },
      { opType: 'Sigmoid', input: ['raw_scores'], output: ['scores'] },
      { opType: 'Shape', input: ['image'], output: ['image_shape'] },
      { opType: 'Slice', input: ['image_shape', 'zero', 'one'], output: ['batch'] },
      {
        opType: 'Concat',
        input: ['batch', 'one'],
        output: ['class_shape'],
        attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
      },
      { opType: 'Expand', input: ['class_row', 'class_shape'], output: ['classes_1'] },
      { opType: 'Reshape', input: ['classes_1', 'class_out_shape'], output: ['classes'] },
    ],
    initializer: [
      int64s('repeats', [2], [1, 2]),
      int64s('box_shape', [3], [-1, 2, 4]),
      floats('w', [4, 2], [1, -1, 0, 0, 0, 0, 0, 0]),
      int64s('zero', [1], [0]),
      int64s('one', [1], [1]),
      int64s('class_row', [1, 2], [0, 1]),
      int64s('class_out_shape', [2], [-1, 2]),
    ],
    input: [{ name: 'image', type: T.FLOAT, dims: ['batch', 4] }],
    output: [
      { name: 'boxes', type: T.FLOAT, dims: ['batch', 2, 4] },
      { name: 'scores', type: T.FLOAT, dims: ['batch', 2] },
      { name: 'classes', type: T.INT64, dims: ['batch', 2] },
    ],
  });
}

/**
 * Datatypes beyond FP32, with a fixed shape (no batch axis): `half` FP16 [2], `double` FP64 [2],
 * `flag` BOOL [2], `byte` UINT8 [2] → `half_twice` FP16 (half + half), `double_masked` FP64
 * (double where flag, else 0), `not_flag` BOOL, `byte_copy` UINT8.
 */
export function datatypesModel(): Uint8Array {
  return model('datatypes', {
    node: [
      { opType: 'Add', input: ['half', 'half'], output: ['half_twice'] },
      {
        opType: 'Cast',
        input: ['flag'],
        output: ['flag_double'],
        attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.DOUBLE }],
      },
      { opType: 'Mul', input: ['double', 'flag_double'], output: ['double_masked'] },
      { opType: 'Not', input: ['flag'], output: ['not_flag'] },
      { opType: 'Identity', input: ['byte'], output: ['byte_copy'] },
    ],
    input: [
      { name: 'half', type: T.FLOAT16, dims: [2] },
      { name: 'double', type: T.DOUBLE, dims: [2] },
      { name: 'flag', type: T.BOOL, dims: [2] },
      { name: 'byte', type: T.UINT8, dims: [2] },
    ],
    output: [
      { name: 'half_twice', type: T.FLOAT16, dims: [2] },
      { name: 'double_masked', type: T.DOUBLE, dims: [2] },
      { name: 'not_flag', type: T.BOOL, dims: [2] },
      { name: 'byte_copy', type: T.UINT8, dims: [2] },
    ],
  });
}

/** Small deterministic weights, in [-0.5, 0.5). */
function weights(count: number, seed: number): number[] {
  return Array.from({ length: count }, (_, index) => (((index + 1) * 7919 * seed) % 1000) / 1000 - 0.5);
}

/**
 * The interface of the bring-your-own-model guide's PyTorch image classifier (TinyConvNet), for
 * CI, which has no PyTorch: `pixels` FP32 [batch, 3, 64, 64] → a 3×3 convolution to 8 channels,
 * ReLU, global average pooling, a linear head → `logits` FP32 [batch, 3].
 */
export function tinyConvNetModel(): Uint8Array {
  const ints = onnx.AttributeProto.AttributeType.INTS;
  return model('tiny-convnet', {
    node: [
      {
        opType: 'Conv',
        input: ['pixels', 'conv_w', 'conv_b'],
        output: ['conv'],
        attribute: [
          { name: 'pads', type: ints, ints: [1, 1, 1, 1] },
          { name: 'kernel_shape', type: ints, ints: [3, 3] },
        ],
      },
      { opType: 'Relu', input: ['conv'], output: ['relu'] },
      { opType: 'GlobalAveragePool', input: ['relu'], output: ['pooled'] },
      { opType: 'Flatten', input: ['pooled'], output: ['features'] },
      { opType: 'MatMul', input: ['features', 'head_w'], output: ['scores'] },
      { opType: 'Add', input: ['scores', 'head_b'], output: ['logits'] },
    ],
    initializer: [
      floats('conv_w', [8, 3, 3, 3], weights(8 * 3 * 3 * 3, 1)),
      floats('conv_b', [8], weights(8, 2)),
      floats('head_w', [8, 3], weights(8 * 3, 3)),
      floats('head_b', [3], weights(3, 4)),
    ],
    input: [{ name: 'pixels', type: T.FLOAT, dims: ['batch', 3, 64, 64] }],
    output: [{ name: 'logits', type: T.FLOAT, dims: ['batch', 3] }],
  });
}

/**
 * The interface of the guide's PyTorch text classifier (TinyTextClassifier), for CI:
 * `input_ids` INT64 [batch, sequence] (a vocabulary of 1000) → the mean of 16-wide embeddings,
 * a linear head → `logits` FP32 [batch, 2].
 */
export function tinyTextModel(): Uint8Array {
  return model('tiny-text', {
    node: meanEmbeddingNodes('head_w'),
    initializer: [floats('table', [1000, 16], weights(1000 * 16, 5)), floats('head_w', [16, 2], weights(16 * 2, 6))],
    input: [{ name: 'input_ids', type: T.INT64, dims: ['batch', 'sequence'] }],
    output: [{ name: 'logits', type: T.FLOAT, dims: ['batch', 2] }],
  });
}

/**
 * A model's aligned-corners resize and scaling as ONNX nodes: `pixels` UINT8 [1, height, width, 3]
 * (decoded RGB, any size) → `input` FP32 [1, outH, outW, 3], each value `resized / divisor`. It is
 * the worker's `decodedRgbToInput` (`@inferq/images`) as a graph, for measuring that step inside
 * the model instead: `Resize` with `coordinate_transformation_mode = align_corners` is
 * `tf.image.resizeBilinear(x, size, true)`. `order: 'cast first'` resizes floats, as the worker
 * does; `'resize first'` resizes the 8-bit pixels and rounds each to a whole value before the cast
 * (half the bytes read, and no longer the same values).
 */
export function alignCornersResizeModel(options: {
  outW: number;
  outH: number;
  divisor: number;
  order: 'cast first' | 'resize first';
}): Uint8Array {
  const { outW, outH, divisor, order } = options;
  const A = onnx.AttributeProto.AttributeType;
  const cast = (from: string, to: string) => ({
    opType: 'Cast',
    input: [from],
    output: [to],
    attribute: [{ name: 'to', type: A.INT, i: T.FLOAT }],
  });
  const resize = (from: string, to: string) => ({
    opType: 'Resize',
    // Inputs: X, roi (unused), scales (unused), sizes.
    input: [from, '', '', 'sizes'],
    output: [to],
    attribute: [
      { name: 'mode', type: A.STRING, s: new TextEncoder().encode('linear') },
      { name: 'coordinate_transformation_mode', type: A.STRING, s: new TextEncoder().encode('align_corners') },
    ],
  });
  return model('align-corners-resize', {
    node: [
      ...(order === 'cast first'
        ? [cast('pixels', 'wide'), resize('wide', 'resized')]
        : [resize('pixels', 'narrow'), cast('narrow', 'resized')]),
      { opType: 'Div', input: ['resized', 'divisor'], output: ['input'] },
    ],
    initializer: [int64s('sizes', [4], [1, outH, outW, 3]), floats('divisor', [], [divisor])],
    input: [{ name: 'pixels', type: T.UINT8, dims: [1, 'height', 'width', 3] }],
    output: [{ name: 'input', type: T.FLOAT, dims: [1, outH, outW, 3] }],
  });
}
