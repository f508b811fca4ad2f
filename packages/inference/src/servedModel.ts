import * as tf from '@tensorflow/tfjs';
import { AppError } from '@inferq/core';
import {
  imageInputOf,
  imageOutputOf,
  inputSize,
  isTensorManifest,
  modelNotReady,
  type InputLayout,
  type ModelLocation,
  type ModelManifest,
} from '@inferq/models';
import {
  batchKey,
  batchRows,
  datatypes,
  isNumericDatatype,
  splitOnBatchAxis,
  stackOnBatchAxis,
  type Tensor,
} from '@inferq/tensors';
import type { BackendInfo } from './backend.ts';
import type { TfModel } from './modelLoader.ts';

/**
 * One loaded model on one engine: runs a batch tensor and returns its output values. ServedModel
 * does the rest (checking inputs, splitting outputs), so engines stay small.
 */
export interface ModelRunner {
  /** The engine and its backend or provider, recorded with each result: `tfjs-wasm`, `onnxruntime-cpu`, … */
  readonly engine: string;
  /** The layout `run` takes. */
  readonly layout: InputLayout;
  /** `batch` holds `shape[0]` inputs in `layout`; `shape` is in that layout too. */
  run(batch: Float32Array, shape: [number, number, number, number]): Promise<ArrayLike<number>>;
  /** A tensor model's call: named inputs in, the named outputs out (ONNX Runtime only). */
  runTensors?(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<Tensor[]>;
  dispose(): void;
}

export interface ServedModelOptions {
  manifest: ModelManifest;
  /** The engine running the model; the ServedModel owns it from now on and disposes it. */
  runner: ModelRunner;
  /** The tfjs backend, when the runner is TF.js. */
  backend?: BackendInfo;
  location: ModelLocation;
  /** How long reading and building the model took. @defaultValue 0 */
  loadMs?: number;
}

export interface WarmUpResult {
  batchSize: number;
  ms: number;
}

/**
 * A loaded model version ready to run batches: `predictBatch` takes preprocessed inputs (see
 * `imageToInput`, always HWC) and returns one output vector per input. The runner is TF.js or
 * ONNX Runtime; inputs are transposed to CHW here for a runner that takes NCHW.
 */
export class ServedModel {
  readonly manifest: ModelManifest;
  readonly backend: BackendInfo | undefined;
  readonly location: ModelLocation;
  readonly loadMs: number;
  readonly #runner: ModelRunner;
  readonly #inputSize: number;
  #outputSize: number | null = null;
  #disposed = false;
  /** Most inputs in one model call; a larger batch runs as several calls, one after another. */
  #callSize = Number.POSITIVE_INFINITY;

  constructor(options: ServedModelOptions) {
    this.manifest = options.manifest;
    this.backend = options.backend;
    this.location = options.location;
    this.loadMs = options.loadMs ?? 0;
    this.#runner = options.runner;
    this.#inputSize = options.manifest.input ? inputSize(options.manifest.input) : 0;
  }

  /** The engine that runs this version, e.g. `onnxruntime-cpu` or `tfjs-wasm`. */
  get engine(): string {
    return this.#runner.engine;
  }

  /** Values one input must hold: width × height × channels. */
  get inputSize(): number {
    return this.#inputSize;
  }

  /** Values per output vector, known after the first batch (or `warmUp`). */
  get outputSize(): number | null {
    return this.#outputSize;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Most inputs `predictBatch` gives the engine in one call; Infinity: the whole batch. */
  get callSize(): number {
    return this.#callSize;
  }

  /**
   * Caps the inputs of one model call: a larger batch runs as calls of at most `size`, one after
   * another. On a CPU a call's cost per input can grow with its size (nsfw on ONNX Runtime's one
   * thread: 8.0 ms an image at 1, 9.1 at 2, 9.5 at 4), where a GPU's falls. Infinity lifts it.
   */
  limitCallSize(size: number): void {
    if (!(size >= 1)) throw new RangeError(`call size must be at least 1, got ${size}`);
    this.#callSize = size;
  }

  /**
   * Runs a batch of zeros at each size so the backend allocates and compiles what it needs before
   * real traffic, and checks the output against the manifest (a classifier needs one value per
   * label, else MODEL_NOT_READY `output-mismatch`).
   * @param batchSizes @defaultValue [1]
   */
  async warmUp(batchSizes: readonly number[] = [1]): Promise<WarmUpResult[]> {
    const results: WarmUpResult[] = [];
    const { manifest } = this;
    if (isTensorManifest(manifest)) {
      // Zeros of each input's shape, every dynamic dim 1 but the batch axis: each size once.
      const batched = manifest.inputs.every((spec) => spec.shape[0] === -1);
      for (const batchSize of batched ? batchSizes : [1]) {
        const inputs = manifest.inputs.map((spec): Tensor => {
          const shape = spec.shape.map((dim, i) => (dim === -1 ? (i === 0 && batched ? batchSize : 1) : dim));
          if (!isNumericDatatype(spec.datatype))
            throw modelNotReady(
              this.location,
              'format-unsupported',
              `${this.#label()}: input "${spec.name}" is ${spec.datatype}`,
            );
          return {
            name: spec.name,
            datatype: spec.datatype,
            shape,
            data: datatypes[spec.datatype].create(shape.reduce((a, b) => a * b, 1)),
          };
        });
        const started = performance.now();
        await this.predictTensors([inputs]);
        results.push({ batchSize, ms: performance.now() - started });
      }
      return results;
    }
    const zeros = new Float32Array(this.#inputSize);
    for (const batchSize of batchSizes) {
      const started = performance.now();
      await this.predictBatch(Array.from({ length: batchSize }, () => zeros));
      results.push({ batchSize, ms: performance.now() - started });
    }
    return results;
  }

  /**
   * Runs `inputs` through the model and returns one output vector per input, in order: as one
   * batch tensor, or as calls of at most `callSize` inputs, one after another. Throws
   * INFERENCE_FAILED when an input has the wrong length or the model fails.
   */
  async predictBatch(inputs: readonly Float32Array[]): Promise<number[][]> {
    if (inputs.length <= this.#callSize) return this.#predictCall(inputs);
    const vectors: number[][] = [];
    for (let start = 0; start < inputs.length; start += this.#callSize)
      vectors.push(...(await this.#predictCall(inputs.slice(start, start + this.#callSize))));
    return vectors;
  }

  /** One model call: `inputs` as one batch tensor. */
  async #predictCall(inputs: readonly Float32Array[]): Promise<number[][]> {
    if (this.#disposed) throw new AppError('MODEL_NOT_READY', `${this.#label()} has been disposed`);
    if (inputs.length === 0) return [];
    const size = this.#inputSize;
    const { width, height, channels } = imageInputOf(this.manifest);
    const nchw = this.#runner.layout === 'nchw';
    inputs.forEach((input, index) => {
      if (input.length !== size) {
        throw new AppError(
          'INFERENCE_FAILED',
          `input ${index} holds ${input.length} values, ${this.#label()} takes ${size}`,
          { details: { index, expected: size, actual: input.length } },
        );
      }
    });
    // A lone HWC input is the batch as it is (the engines only read it): no copy.
    const lone = inputs.length === 1 && !nchw ? inputs[0] : undefined;
    const batch = lone ?? new Float32Array(inputs.length * size);
    if (!lone) {
      inputs.forEach((input, index) => {
        if (nchw) hwcToChw(input, batch, index * size, width * height, channels);
        else batch.set(input, index * size);
      });
    }
    const shape: [number, number, number, number] = nchw
      ? [inputs.length, channels, height, width]
      : [inputs.length, height, width, channels];

    let values: ArrayLike<number>;
    try {
      values = await this.#runner.run(batch, shape);
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new AppError(
        'INFERENCE_FAILED',
        `${this.#label()} failed on a batch of ${inputs.length}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const per = values.length / inputs.length;
    this.#checkOutputSize(per);
    const vectors: number[][] = [];
    for (let i = 0; i < inputs.length; i++)
      vectors.push(Array.prototype.slice.call(values, i * per, (i + 1) * per) as number[]);
    return vectors;
  }

  /**
   * A tensor model's batch: each request's inputs (named, checked against the manifest by the
   * API) to its outputs, in order. Requests that agree on every dim but the batch axis run as one
   * model call, stacked on that axis; the others, and every request of a model without a dynamic
   * batch axis, run alone. Throws INFERENCE_FAILED when the model fails on a call.
   */
  async predictTensors(requests: ReadonlyArray<readonly Tensor[]>): Promise<Tensor[][]> {
    if (this.#disposed) throw new AppError('MODEL_NOT_READY', `${this.#label()} has been disposed`);
    const { manifest } = this;
    const runner = this.#runner;
    if (!isTensorManifest(manifest) || !runner.runTensors)
      throw new AppError('MODEL_KIND_MISMATCH', `${this.#label()} takes an image, not tensors`);
    const outputNames = manifest.outputs.map((spec) => spec.name);
    const results: Tensor[][] = new Array(requests.length);
    const groups = new Map<string, number[]>();
    requests.forEach((inputs, index) => {
      const key = batchRows(inputs, manifest.inputs) === null ? `alone:${index}` : batchKey(inputs);
      groups.set(key, [...(groups.get(key) ?? []), index]);
    });
    const call = async (inputs: readonly Tensor[], size: number): Promise<Tensor[]> => {
      try {
        return await (runner.runTensors as NonNullable<ModelRunner['runTensors']>)(inputs, outputNames);
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw new AppError(
          'INFERENCE_FAILED',
          `${this.#label()} failed on a batch of ${size}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    };
    for (const indexes of groups.values()) {
      const members = indexes.map((index) => requests[index] as readonly Tensor[]);
      if (members.length === 1) {
        results[indexes[0] as number] = await call(members[0] as readonly Tensor[], 1);
        continue;
      }
      const rows = members.map((inputs) => inputs[0]?.shape[0] as number);
      const outputs = await call(stackOnBatchAxis(members), members.length);
      const split = outputs.map((output) => splitOnBatchAxis(output, rows));
      if (split.every((parts) => parts !== null)) {
        indexes.forEach((index, member) => {
          results[index] = split.map((parts) => (parts as Tensor[])[member] as Tensor);
        });
      } else {
        // An output whose first axis is not the batch: the stacked call cannot be split back.
        for (const [member, index] of indexes.entries())
          results[index] = await call(members[member] as readonly Tensor[], 1);
      }
    }
    return results;
  }

  /** Frees the model's weights. Later calls to predictBatch throw MODEL_NOT_READY. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#runner.dispose();
  }

  #checkOutputSize(per: number): void {
    if (this.#outputSize === null) {
      const output = imageOutputOf(this.manifest);
      if (!Number.isInteger(per) || per < 1)
        throw modelNotReady(
          this.location,
          'output-mismatch',
          `${this.#label()} returned an output that does not split per input`,
        );
      if (output.kind === 'classification' && output.labels.length !== per) {
        throw modelNotReady(
          this.location,
          'output-mismatch',
          `${this.#label()} outputs ${per} values per input, its manifest names ${output.labels.length} labels`,
        );
      }
      this.#outputSize = per;
    }
  }

  #label(): string {
    return `model ${this.manifest.name}@${this.manifest.version}`;
  }
}

/** Writes one HWC input into `out` at `offset` as CHW. */
function hwcToChw(input: Float32Array, out: Float32Array, offset: number, pixels: number, channels: number): void {
  for (let c = 0; c < channels; c++) {
    const plane = offset + c * pixels;
    for (let p = 0; p < pixels; p++) out[plane + p] = input[p * channels + c] as number;
  }
}

/** A TF.js model (Layers, Graph or SavedModel) as a runner; tensors live only inside a call. */
export class TfRunner implements ModelRunner {
  readonly engine: string;
  readonly layout = 'nhwc' as const;
  readonly #model: TfModel;
  readonly #label: string;

  constructor(model: TfModel, backend: BackendInfo, label: string) {
    this.#model = model;
    this.engine = `tfjs-${backend.name}`;
    this.#label = label;
  }

  async run(
    batch: Float32Array,
    shape: [number, number, number, number],
  ): Promise<Float32Array | Int32Array | Uint8Array> {
    const output = await this.#output(batch, shape);
    try {
      return await output.data();
    } finally {
      output.dispose();
    }
  }

  dispose(): void {
    this.#model.dispose();
  }

  async #output(batch: Float32Array, shape: [number, number, number, number]): Promise<tf.Tensor> {
    const model = this.#model;
    if (model instanceof tf.GraphModel) {
      // executeAsync also runs graphs with control flow; it disposes its own intermediates.
      const x = tf.tensor4d(batch, shape);
      try {
        return singleOutput(await model.executeAsync(x), this.#label);
      } finally {
        x.dispose();
      }
    }
    return tf.tidy(() => singleOutput(model.predict(tf.tensor4d(batch, shape)), this.#label));
  }
}

function singleOutput(result: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap, label: string): tf.Tensor {
  if (result instanceof tf.Tensor) return result;
  const tensors = Array.isArray(result) ? result : Object.values(result);
  if (tensors.length === 1) return tensors[0] as tf.Tensor;
  tf.dispose(tensors);
  throw new AppError(
    'INFERENCE_FAILED',
    `${label} has ${tensors.length} outputs; only single-output models can be served`,
  );
}

export interface DecodedOutput {
  /** Per-label scores: probabilities for softmax, sigmoid and logits (after softmax) models; the output as it is for none and raw. */
  scores: number[];
  /** The best `topK` labels, highest score first; empty for raw outputs. */
  top: Array<{ label: string; score: number }>;
}

/**
 * Reads an output vector per the manifest. Softmax is applied only where the manifest asks for it
 * (`logits`); `softmax` and `sigmoid` outputs are already probabilities, and `none` means the
 * caller wants the output as the model gives it (raw logits, ranked).
 * @param topK @defaultValue 5
 */
export function decodeOutput(
  vector: readonly number[],
  manifest: Pick<ModelManifest, 'name' | 'version' | 'output'>,
  topK = 5,
): DecodedOutput {
  const output = imageOutputOf(manifest);
  if (output.kind === 'raw') return { scores: [...vector], top: [] };
  if (vector.length !== output.labels.length) {
    throw new AppError(
      'INFERENCE_FAILED',
      `model ${manifest.name}@${manifest.version} output has ${vector.length} values for ${output.labels.length} labels`,
      {
        details: { expected: output.labels.length, actual: vector.length },
      },
    );
  }
  const scores = output.activation === 'logits' ? softmax(vector) : [...vector];
  const order = scores.map((_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number));
  const top = order
    .slice(0, Math.max(0, Math.floor(topK)))
    .map((i) => ({ label: output.labels[i] as string, score: scores[i] as number }));
  return { scores, top };
}

/** Numerically stable softmax. */
export function softmax(logits: readonly number[]): number[] {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const exps = logits.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}
