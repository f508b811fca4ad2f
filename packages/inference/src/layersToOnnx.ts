import * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;
type AttributeProto = InstanceType<typeof onnx.AttributeProto>;

/**
 * Converts a TensorFlow.js Layers model (model.json + weights, the format Keras models reach
 * TF.js in) into an ONNX model with the same weights, so ONNX Runtime can serve it. No Python, no
 * tf2onnx: the Keras layer graph is walked and each layer written as the ONNX operators that
 * compute it.
 *
 * The ONNX model takes the same input as the TF.js one, NHWC float32 `[batch, height, width,
 * channels]` named `input`, and gives the same output, named `output`. Inside, 4-D tensors are
 * transposed once to NCHW (ONNX's convolution layout) and back only where Keras semantics need
 * channels-last (Flatten, Reshape, Dense on 4-D).
 *
 * Layers covered (enough for MobileNet/ResNet/VGG-style CNNs and MLPs): InputLayer, Conv2D,
 * DepthwiseConv2D, SeparableConv2D, BatchNormalization, ReLU, Activation, Softmax, Add,
 * Subtract, Multiply, Average, Maximum, Concatenate, ZeroPadding2D, MaxPooling2D,
 * AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Reshape, Dense,
 * Dropout (identity at inference). Anything else throws `LayersToOnnxError` naming the layer.
 */
export class LayersToOnnxError extends Error {}

export interface LayersToOnnxOptions {
  /** ONNX opset the operators are written for. @defaultValue 13 */
  opset?: number;
  /** Written into the model's producer fields. @defaultValue 'inferq' */
  producerName?: string;
  /** Stored as the model's doc string (where the weights came from). @defaultValue '' */
  docString?: string;
  /**
   * The layout of the ONNX model's input: `nhwc` as the TF.js model takes it, or `nchw` as
   * PyTorch exports take theirs (for an image model; the first transpose is then left out).
   * @defaultValue 'nhwc'
   */
  inputLayout?: 'nhwc' | 'nchw';
}

type Layout = 'nhwc' | 'nchw' | 'flat';

interface Value {
  name: string;
  /** 4-D tensors carry their layout; 2-D ones (and others) are `flat`. */
  layout: Layout;
  rank: number;
}

interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes?: unknown[];
}

/** The layer graph of a TF.js Layers model.json, as `tf.io.ModelJSON['modelTopology']` holds it. */
interface KerasModelConfig {
  class_name: string;
  config: { name?: string; layers: KerasLayer[]; input_layers?: unknown[]; output_layers?: unknown[] } | KerasLayer[];
}

export function layersModelToOnnx(
  modelJson: tf.io.ModelJSON,
  weightData: ArrayBuffer,
  options: LayersToOnnxOptions = {},
): Uint8Array {
  const topology = modelJson.modelTopology as { model_config?: KerasModelConfig } & Partial<KerasModelConfig>;
  const modelConfig = (topology.model_config ?? topology) as KerasModelConfig;
  if (typeof modelConfig?.class_name !== 'string') throw new LayersToOnnxError('model.json has no Keras model config');
  const specs = (modelJson.weightsManifest ?? []).flatMap((group) => group.weights);
  const weights = decodeWeights(weightData, specs);
  return new Converter(weights, options).convert(modelConfig);
}

function decodeWeights(
  weightData: ArrayBuffer,
  specs: tf.io.WeightsManifestEntry[],
): Map<string, { shape: number[]; values: Float32Array }> {
  // tfjs's own decoder: it also undoes uint8/uint16/float16 weight quantization.
  const tensors = tf.io.decodeWeights(weightData, specs);
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, tensor] of Object.entries(tensors)) {
    out.set(name, { shape: tensor.shape, values: Float32Array.from(tensor.dataSync() as ArrayLike<number>) });
    tensor.dispose();
  }
  return out;
}

class Converter {
  readonly #weights: Map<string, { shape: number[]; values: Float32Array }>;
  readonly #options: LayersToOnnxOptions;
  readonly #nodes: NodeProto[] = [];
  readonly #initializers: TensorProto[] = [];
  readonly #values = new Map<string, Value>();
  /** Transposed copies already made, by `${name}:${layout}`. */
  readonly #transposed = new Map<string, Value>();
  #counter = 0;

  constructor(weights: Map<string, { shape: number[]; values: Float32Array }>, options: LayersToOnnxOptions) {
    this.#weights = weights;
    this.#options = options;
  }

  convert(model: KerasModelConfig): Uint8Array {
    const { layers, inputs, outputs } = this.#graphOf(model);
    if (inputs.length !== 1 || outputs.length !== 1)
      throw new LayersToOnnxError(
        `only models with one input and one output convert (this one has ${inputs.length} and ${outputs.length})`,
      );
    const inputLayer = layers.find((layer) => layer.config.name === inputs[0]);
    const inputShape = (inputLayer?.config.batch_input_shape ?? inputLayer?.config.batchInputShape) as
      Array<number | null> | undefined;
    if (!inputShape) throw new LayersToOnnxError(`cannot find the input shape of ${inputs[0]}`);
    const nchwInput = this.#options.inputLayout === 'nchw' && inputShape.length === 4;
    this.#values.set(inputs[0] as string, {
      name: 'input',
      layout: inputShape.length === 4 ? (nchwInput ? 'nchw' : 'nhwc') : 'flat',
      rank: inputShape.length,
    });
    const declaredShape = nchwInput
      ? [inputShape[0] ?? null, inputShape[3] ?? null, inputShape[1] ?? null, inputShape[2] ?? null]
      : inputShape;

    for (const layer of layers) {
      if (layer.class_name === 'InputLayer') continue;
      const sources = this.#inboundOf(layer).map((name) => {
        const value = this.#values.get(name);
        if (!value)
          throw new LayersToOnnxError(`layer ${layer.config.name} reads ${name}, which is not computed before it`);
        return value;
      });
      this.#values.set(layer.config.name, this.#layer(layer, sources));
    }
    const last = this.#values.get(outputs[0] as string) as Value;
    const result = this.#as(last, last.rank === 4 ? 'nhwc' : last.layout);
    this.#nodes.push(node('Identity', [result.name], ['output']));

    const dims = (shape: Array<number | null>) =>
      shape.map((d, i) => (d === null || i === 0 ? { dimParam: i === 0 ? 'batch' : `d${i}` } : { dimValue: d }));
    const tensorType = (shape: Array<number | null>) => ({
      tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims(shape) } },
    });
    const proto = onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: this.#options.opset ?? 13 }],
      producerName: this.#options.producerName ?? 'inferq',
      producerVersion: '1',
      docString: this.#options.docString ?? '',
      graph: {
        name: String((model as { config?: { name?: string } }).config?.name ?? 'model'),
        node: this.#nodes,
        initializer: this.#initializers,
        input: [{ name: 'input', type: tensorType(declaredShape) }],
        output: [{ name: 'output', type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }],
      },
    });
    return onnx.ModelProto.encode(proto).finish();
  }

  /** Layers in order, with the names of the model's inputs and outputs. */
  #graphOf(model: KerasModelConfig): { layers: KerasLayer[]; inputs: string[]; outputs: string[] } {
    if (model.class_name === 'Sequential') {
      const layers = Array.isArray(model.config) ? model.config : model.config.layers;
      const first = layers[0];
      if (!first) throw new LayersToOnnxError('the Sequential model has no layers');
      // A Sequential model's first layer carries the input shape; give it an input of its own.
      const input: KerasLayer = {
        class_name: 'InputLayer',
        config: { name: '__input', batch_input_shape: first.config.batch_input_shape ?? first.config.batchInputShape },
      };
      const chained = layers.map((layer, i) => ({
        ...layer,
        inbound_nodes: [[[i === 0 ? '__input' : (layers[i - 1] as KerasLayer).config.name, 0, 0, {}]]],
      }));
      return { layers: [input, ...chained], inputs: ['__input'], outputs: [(layers.at(-1) as KerasLayer).config.name] };
    }
    if (model.class_name !== 'Model' && model.class_name !== 'Functional')
      throw new LayersToOnnxError(`model class ${model.class_name} is not supported`);
    const config = model.config as Exclude<KerasModelConfig['config'], KerasLayer[]>;
    const names = (refs: unknown[] | undefined) => (refs ?? []).map((ref) => String((ref as unknown[])[0]));
    return { layers: config.layers, inputs: names(config.input_layers), outputs: names(config.output_layers) };
  }

  #inboundOf(layer: KerasLayer): string[] {
    const nodes = layer.inbound_nodes ?? [];
    if (nodes.length !== 1)
      throw new LayersToOnnxError(
        `layer ${layer.config.name} is called ${nodes.length} times; shared layers are not supported`,
      );
    const inbound = nodes[0] as unknown;
    // Keras 2: [[layer, nodeIndex, tensorIndex, kwargs], ...]; Keras 3: { args: [...] }.
    if (Array.isArray(inbound)) return inbound.map((ref) => String((ref as unknown[])[0]));
    throw new LayersToOnnxError(
      `layer ${layer.config.name} has inbound nodes in a format this converter does not read`,
    );
  }

  #layer(layer: KerasLayer, inputs: Value[]): Value {
    const c = layer.config;
    const one = inputs[0] as Value;
    if (c.data_format !== undefined && c.data_format !== 'channels_last')
      throw new LayersToOnnxError(`layer ${c.name}: only channels_last models convert`);
    switch (layer.class_name) {
      case 'Dropout':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
        return one;
      case 'Conv2D':
        return this.#activation(c, this.#conv(c, one, 'kernel', 1));
      case 'DepthwiseConv2D':
        return this.#activation(c, this.#conv(c, one, 'depthwise_kernel', 'depthwise'));
      case 'SeparableConv2D': {
        const depthwise = this.#conv({ ...c, use_bias: false }, one, 'depthwise_kernel', 'depthwise');
        return this.#activation(
          c,
          this.#conv(
            { ...c, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', dilation_rate: [1, 1] },
            depthwise,
            'pointwise_kernel',
            1,
          ),
        );
      }
      case 'BatchNormalization':
        return this.#batchNorm(c, one);
      case 'ReLU': {
        if ((c.negative_slope as number | undefined) || (c.threshold as number | undefined))
          throw new LayersToOnnxError(`layer ${c.name}: ReLU with a slope or threshold is not supported`);
        const max = c.max_value as number | null | undefined;
        return max === null || max === undefined ? this.#unary('Relu', one) : this.#clip(one, 0, max);
      }
      case 'Activation':
        return this.#applyActivation(String(c.activation), one, c.name);
      case 'Softmax':
        return this.#softmax(one);
      case 'Add':
      case 'Subtract':
      case 'Multiply':
      case 'Maximum':
      case 'Average':
        return this.#merge(layer.class_name, inputs);
      case 'Concatenate':
        return this.#concat(c, inputs);
      case 'ZeroPadding2D':
        return this.#pad(c, one);
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        return this.#pool(layer.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', c, one);
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        const pooled = this.#op(
          layer.class_name === 'GlobalMaxPooling2D' ? 'GlobalMaxPool' : 'GlobalAveragePool',
          [this.#as(one, 'nchw').name],
          [],
          'nchw',
          4,
        );
        return c.keepdims === true ? pooled : this.#op('Flatten', [pooled.name], [attr.int('axis', 1)], 'flat', 2);
      }
      case 'Flatten':
        return this.#op(
          'Flatten',
          [this.#as(one, one.rank === 4 ? 'nhwc' : one.layout).name],
          [attr.int('axis', 1)],
          'flat',
          2,
        );
      case 'Reshape':
        return this.#reshape(c, one);
      case 'Dense':
        return this.#activation(c, this.#dense(c, one));
      default:
        throw new LayersToOnnxError(`layer ${c.name}: ${layer.class_name} is not supported by the ONNX converter`);
    }
  }

  #weight(layer: string, weight: string): { shape: number[]; values: Float32Array } {
    const exact = this.#weights.get(`${layer}/${weight}`);
    if (exact) return exact;
    for (const [name, value] of this.#weights) if (name.endsWith(`/${layer}/${weight}`)) return value;
    throw new LayersToOnnxError(`no weight ${layer}/${weight} in the weights manifest`);
  }

  #conv(c: KerasLayer['config'], input: Value, kernelName: string, groups: 1 | 'depthwise'): Value {
    const kernel = this.#weight(c.name, kernelName);
    const [kh, kw, inC, outC] = kernel.shape as [number, number, number, number];
    // Keras [kh, kw, in, out] → ONNX [out, in/groups, kh, kw]; depthwise [kh, kw, in, mult] → [in*mult, 1, kh, kw].
    const depthwise = groups === 'depthwise';
    const outChannels = depthwise ? inC * outC : outC;
    const w = new Float32Array(kernel.values.length);
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let i = 0; i < inC; i++)
          for (let o = 0; o < outC; o++) {
            const from = ((y * kw + x) * inC + i) * outC + o;
            const to = depthwise ? ((i * outC + o) * kh + y) * kw + x : ((o * inC + i) * kh + y) * kw + x;
            w[to] = kernel.values[from] as number;
          }
    const names = [
      this.#input(this.#as(input, 'nchw')),
      this.#constant(`${c.name}_W`, [outChannels, depthwise ? 1 : inC, kh, kw], w),
    ];
    if (c.use_bias !== false)
      names.push(this.#constant(`${c.name}_B`, [outChannels], this.#weight(c.name, 'bias').values));
    const strides = pair(c.strides, 1);
    const dilations = pair(c.dilation_rate, 1);
    const attributes = [
      attr.ints('kernel_shape', [kh, kw]),
      attr.ints('strides', strides),
      attr.ints('dilations', dilations),
      attr.int('group', depthwise ? inC : 1),
    ];
    attributes.push(padding(c.padding, c.name));
    return this.#op('Conv', names, attributes, 'nchw', 4);
  }

  #batchNorm(c: KerasLayer['config'], input: Value): Value {
    const axis = c.axis as number | number[] | undefined;
    const axisValue = Array.isArray(axis) ? axis[0] : axis;
    if (axisValue !== undefined && axisValue !== -1 && axisValue !== input.rank - 1)
      throw new LayersToOnnxError(`layer ${c.name}: BatchNormalization over axis ${String(axis)} is not supported`);
    const mean = this.#weight(c.name, 'moving_mean').values;
    const channels = mean.length;
    const gamma = c.scale === false ? new Float32Array(channels).fill(1) : this.#weight(c.name, 'gamma').values;
    const beta = c.center === false ? new Float32Array(channels) : this.#weight(c.name, 'beta').values;
    const source = input.rank === 4 ? this.#as(input, 'nchw') : input;
    if (input.rank !== 4 && input.rank !== 2)
      throw new LayersToOnnxError(`layer ${c.name}: BatchNormalization on rank ${input.rank} is not supported`);
    const names = [
      source.name,
      this.#constant(`${c.name}_scale`, [channels], gamma),
      this.#constant(`${c.name}_bias`, [channels], beta),
      this.#constant(`${c.name}_mean`, [channels], mean),
      this.#constant(`${c.name}_var`, [channels], this.#weight(c.name, 'moving_variance').values),
    ];
    return this.#op(
      'BatchNormalization',
      names,
      [attr.float('epsilon', (c.epsilon as number | undefined) ?? 1e-3)],
      source.layout,
      source.rank,
    );
  }

  #dense(c: KerasLayer['config'], input: Value): Value {
    const kernel = this.#weight(c.name, 'kernel');
    const source = this.#as(input, input.rank === 4 ? 'nhwc' : input.layout);
    const product = this.#op(
      'MatMul',
      [source.name, this.#constant(`${c.name}_W`, kernel.shape, kernel.values)],
      [],
      source.layout,
      source.rank,
    );
    if (c.use_bias === false) return product;
    const bias = this.#weight(c.name, 'bias');
    return this.#op(
      'Add',
      [product.name, this.#constant(`${c.name}_B`, bias.shape, bias.values)],
      [],
      source.layout,
      source.rank,
    );
  }

  #activation(c: KerasLayer['config'], value: Value): Value {
    return this.#applyActivation(String(c.activation ?? 'linear'), value, c.name);
  }

  #applyActivation(activation: string, value: Value, layer: string): Value {
    switch (activation) {
      case 'linear':
        return value;
      case 'relu':
        return this.#unary('Relu', value);
      case 'relu6':
        return this.#clip(value, 0, 6);
      case 'sigmoid':
        return this.#unary('Sigmoid', value);
      case 'tanh':
        return this.#unary('Tanh', value);
      case 'softplus':
        return this.#unary('Softplus', value);
      case 'softsign':
        return this.#unary('Softsign', value);
      case 'elu':
        return this.#unary('Elu', value);
      case 'selu':
        return this.#unary('Selu', value, [
          attr.float('alpha', 1.6732632423543772),
          attr.float('gamma', 1.0507009873554805),
        ]);
      case 'softmax':
        return this.#softmax(value);
      case 'swish':
      case 'silu': {
        const sigmoid = this.#unary('Sigmoid', value);
        return this.#op('Mul', [value.name, sigmoid.name], [], value.layout, value.rank);
      }
      default:
        throw new LayersToOnnxError(`layer ${layer}: activation ${activation} is not supported`);
    }
  }

  #softmax(value: Value): Value {
    // Keras softmaxes the last axis: the channels, so 4-D inputs go back to channels-last.
    const source = value.rank === 4 ? this.#as(value, 'nhwc') : value;
    return this.#op('Softmax', [source.name], [attr.int('axis', -1)], source.layout, source.rank);
  }

  #unary(op: string, value: Value, attributes: AttributeProto[] = []): Value {
    return this.#op(op, [value.name], attributes, value.layout, value.rank);
  }

  #clip(value: Value, min: number, max: number): Value {
    return this.#op('Clip', [value.name, this.#scalar(min), this.#scalar(max)], [], value.layout, value.rank);
  }

  #merge(kind: string, inputs: Value[]): Value {
    const layout = inputs.every((v) => v.rank !== 4) ? (inputs[0] as Value).layout : 'nchw';
    const names = inputs.map((v) => this.#as(v, v.rank === 4 ? layout : v.layout).name);
    const rank = (inputs[0] as Value).rank;
    const binary = { Add: 'Add', Subtract: 'Sub', Multiply: 'Mul', Maximum: 'Max', Average: 'Add' }[kind] as string;
    if (kind === 'Maximum') return this.#op('Max', names, [], layout, rank);
    let acc = this.#op(binary, names.slice(0, 2), [], layout, rank);
    for (const name of names.slice(2)) acc = this.#op(binary, [acc.name, name], [], layout, rank);
    if (kind === 'Average') acc = this.#op('Div', [acc.name, this.#scalar(names.length)], [], layout, rank);
    return acc;
  }

  #concat(c: KerasLayer['config'], inputs: Value[]): Value {
    const rank = (inputs[0] as Value).rank;
    const axis = (c.axis as number | undefined) ?? -1;
    const keras = axis < 0 ? rank + axis : axis;
    if (rank === 4) {
      // NHWC axis → NCHW axis: channels 3 → 1, height 1 → 2, width 2 → 3.
      const onnxAxis = [0, 2, 3, 1][keras] as number;
      return this.#op(
        'Concat',
        inputs.map((v) => this.#as(v, 'nchw').name),
        [attr.int('axis', onnxAxis)],
        'nchw',
        4,
      );
    }
    return this.#op(
      'Concat',
      inputs.map((v) => v.name),
      [attr.int('axis', keras)],
      (inputs[0] as Value).layout,
      rank,
    );
  }

  #pad(c: KerasLayer['config'], input: Value): Value {
    const p = c.padding as number | [number, number] | [[number, number], [number, number]];
    const [[top, bottom], [left, right]] =
      typeof p === 'number'
        ? [
            [p, p],
            [p, p],
          ]
        : typeof p[0] === 'number'
          ? [
              [p[0], p[0]],
              [p[1] as number, p[1] as number],
            ]
          : (p as [[number, number], [number, number]]);
    const pads = this.#int64Constant(`pads_${this.#counter++}`, [8], [0, 0, top, left, 0, 0, bottom, right]);
    return this.#op('Pad', [this.#as(input, 'nchw').name, pads], [attr.string('mode', 'constant')], 'nchw', 4);
  }

  #pool(op: 'MaxPool' | 'AveragePool', c: KerasLayer['config'], input: Value): Value {
    const size = pair(c.pool_size, 2);
    const strides = c.strides === null || c.strides === undefined ? size : pair(c.strides, 1);
    const attributes = [attr.ints('kernel_shape', size), attr.ints('strides', strides), padding(c.padding, c.name)];
    // TF averages only the pixels inside the image at the edges of 'same' padding.
    if (op === 'AveragePool') attributes.push(attr.int('count_include_pad', 0));
    return this.#op(op, [this.#as(input, 'nchw').name], attributes, 'nchw', 4);
  }

  #reshape(c: KerasLayer['config'], input: Value): Value {
    const target = c.target_shape as number[];
    const source = this.#as(input, input.rank === 4 ? 'nhwc' : input.layout);
    const shape = this.#int64Constant(`shape_${this.#counter++}`, [target.length + 1], [0, ...target]);
    const rank = target.length + 1;
    return this.#op('Reshape', [source.name, shape], [], rank === 4 ? 'nhwc' : 'flat', rank);
  }

  /** `value` in `layout`, transposing (once per value and layout) when it is in another. */
  #as(value: Value, layout: Layout): Value {
    if (value.layout === layout || value.rank !== 4 || layout === 'flat') return value;
    const key = `${value.name}:${layout}`;
    const cached = this.#transposed.get(key);
    if (cached) return cached;
    const perm = layout === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1];
    const transposed = this.#op('Transpose', [value.name], [attr.ints('perm', perm)], layout, 4);
    this.#transposed.set(key, transposed);
    return transposed;
  }

  #input(value: Value): string {
    return value.name;
  }

  #op(type: string, inputs: string[], attributes: AttributeProto[], layout: Layout, rank: number): Value {
    const name = `${type.toLowerCase()}_${this.#counter++}`;
    this.#nodes.push(node(type, inputs, [name], attributes, name));
    return { name, layout, rank };
  }

  #constant(name: string, dims: number[], values: Float32Array): string {
    const unique = `${name}_${this.#counter++}`;
    this.#initializers.push(
      onnx.TensorProto.create({
        name: unique,
        dims,
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: bytesOf(values),
      }),
    );
    return unique;
  }

  #int64Constant(name: string, dims: number[], values: number[]): string {
    this.#initializers.push(
      onnx.TensorProto.create({
        name,
        dims,
        dataType: onnx.TensorProto.DataType.INT64,
        rawData: bytesOf(BigInt64Array.from(values.map(BigInt))),
      }),
    );
    return name;
  }

  #scalar(value: number): string {
    const name = `scalar_${this.#counter++}`;
    this.#initializers.push(
      onnx.TensorProto.create({
        name,
        dims: [],
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: bytesOf(Float32Array.of(value)),
      }),
    );
    return name;
  }
}

function bytesOf(values: Float32Array | BigInt64Array): Uint8Array {
  // ONNX raw data is little-endian, as typed arrays are on every platform Node runs on.
  return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

function node(
  opType: string,
  input: string[],
  output: string[],
  attribute: AttributeProto[] = [],
  name = output[0] as string,
): NodeProto {
  return onnx.NodeProto.create({ opType, input, output, attribute, name });
}

function pair(value: unknown, fallback: number): [number, number] {
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2) return [Number(value[0]), Number(value[1])];
  return [fallback, fallback];
}

/** Keras `same` pads like ONNX SAME_UPPER (the extra pixel at the end); `valid` pads nothing. */
function padding(value: unknown, layer: string): AttributeProto {
  if (value === 'same') return attr.string('auto_pad', 'SAME_UPPER');
  if (value === 'valid' || value === undefined) return attr.string('auto_pad', 'VALID');
  throw new LayersToOnnxError(`layer ${layer}: padding ${String(value)} is not supported`);
}

const attr = {
  int: (name: string, i: number) =>
    onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  ints: (name: string, ints: number[]) =>
    onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
  float: (name: string, f: number) =>
    onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f }),
  string: (name: string, s: string) =>
    onnx.AttributeProto.create({
      name,
      type: onnx.AttributeProto.AttributeType.STRING,
      s: new TextEncoder().encode(s),
    }),
};

/**
 * model.onnx for a TF.js Layers version given as its files (model.json first, then its shards in
 * order): what the importers and `exportModel` publish beside the TF.js files.
 */
export function onnxFileForLayers(
  files: ReadonlyArray<{ path: string; bytes: Uint8Array }>,
  options: LayersToOnnxOptions = {},
): { path: string; bytes: Uint8Array } {
  const [modelJsonFile, ...shards] = files;
  if (!modelJsonFile) throw new LayersToOnnxError('no model.json');
  const modelJson = JSON.parse(Buffer.from(modelJsonFile.bytes).toString('utf8')) as tf.io.ModelJSON;
  const total = shards.reduce((sum, file) => sum + file.bytes.byteLength, 0);
  const weights = new Uint8Array(total);
  let offset = 0;
  for (const shard of shards) {
    weights.set(shard.bytes, offset);
    offset += shard.bytes.byteLength;
  }
  return { path: 'model.onnx', bytes: layersModelToOnnx(modelJson, weights.buffer, options) };
}
