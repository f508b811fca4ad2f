import * as tf from '@tensorflow/tfjs';
import { AppError } from '@inferq/core';
import {
  fetchModelFiles,
  fetchOnnxFile,
  hashModelFiles,
  imageInputOf,
  isTensorManifest,
  isRemoteLocation,
  modelJsonFileName,
  modelNotReady,
  onnxFileName,
  onnxInputMismatch,
  readModelFiles,
  onnxExternalDataFiles,
  readOnnxFiles,
  readSavedModelFiles,
  type InputLayout,
  type ModelFile,
  type ModelFormat,
  type ModelLocation,
  type ModelManifest,
} from '@inferq/models';
import { datatypeOfOrt, ortTypeOf, type Tensor, type TensorData } from '@inferq/tensors';
import type * as Ort from 'onnxruntime-node';
import type { BackendInfo } from './backend.ts';
import type { InferenceEngines } from './inferenceEngines.ts';
import type { OnnxSession } from './onnxRuntime.ts';
import { ServedModel, TfRunner, type ModelRunner } from './servedModel.ts';

/** What `tf.node.loadSavedModel` answers, as far as serving uses it. */
export interface SavedModelLike {
  predict(inputs: tf.Tensor): tf.Tensor | tf.Tensor[] | tf.NamedTensorMap;
  dispose(): void;
}

/** A loaded model of any format. */
export type TfModel = tf.LayersModel | tf.GraphModel | SavedModelLike;

export interface ReadModelArtifactsOptions {
  /** Bound on each http(s) request for a remote model. @defaultValue 30000 */
  fetchTimeoutMs?: number;
  /** The fetch used for remote models. @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
}

export interface LoadTfModelOptions extends ReadModelArtifactsOptions {
  /** When set, the files must hash to it (`computeModelHash`), else `hash-mismatch`. */
  expectedSha256?: string;
}

export interface LoadModelOptions extends ReadModelArtifactsOptions {
  /** The engines this process runs (`createInferenceEngines`); the version runs on one of them. */
  engines: InferenceEngines;
  /** Check the files against `manifest.sha256` before loading. @defaultValue true */
  verifyHash?: boolean;
  /**
   * Which engine runs a version that both can: `auto` takes ONNX Runtime when it is started and
   * the version has an ONNX file (format `onnx`, or a TF.js version with `model.onnx` beside),
   * TF.js otherwise. `tfjs` / `onnxruntime` insist.
   * @defaultValue 'auto'
   */
  engine?: EnginePreference;
}

export const enginePreferences = ['auto', 'onnxruntime', 'tfjs'] as const;
export type EnginePreference = (typeof enginePreferences)[number];

/** The engine `loadModel` would pick for `manifest` given `engines`. */
export function engineFor(
  manifest: Pick<ModelManifest, 'format' | 'onnx'>,
  engines: InferenceEngines,
  preference: EnginePreference = 'auto',
): 'onnxruntime' | 'tfjs' {
  const hasOnnx = manifest.format === 'onnx' || manifest.onnx !== undefined;
  if (preference === 'tfjs' || (preference === 'auto' && (!hasOnnx || engines.onnx === null)))
    return manifest.format === 'onnx' ? 'onnxruntime' : 'tfjs';
  return hasOnnx ? 'onnxruntime' : 'tfjs';
}

/** model.json and its weight shards, read from a folder or over http(s). */
export interface ModelArtifactFiles {
  modelJson: tf.io.ModelJSON;
  files: ModelFile[];
  sha256: string;
}

/**
 * Loads a model version and wraps it for serving. `location` is a folder or the http(s) URL of a
 * model.json (as `ModelRegistry.resolve` returns it). Throws MODEL_NOT_READY with
 * `details.reason` saying what is wrong (`missing-model-json`, `invalid-model-json`,
 * `missing-weights`, `fetch-failed`, `hash-mismatch`, `format-mismatch`, `load-failed`).
 */
export async function loadModel(
  location: ModelLocation,
  manifest: ModelManifest,
  options: LoadModelOptions,
): Promise<ServedModel> {
  if (engineFor(manifest, options.engines, options.engine) === 'onnxruntime')
    return loadOnnxModel(location, manifest, options);
  const backend = options.engines.tfjs;
  if (backend === null)
    throw new AppError('MODEL_NOT_READY', 'no tfjs backend: the engines passed in have none (startTfjsBackend)');
  const started = performance.now();
  const loadOptions: LoadTfModelOptions = { ...options };
  if (options.verifyHash ?? true) loadOptions.expectedSha256 = manifest.sha256;
  const { model } =
    manifest.format === 'saved_model'
      ? await loadSavedModel(location, manifest, backend, loadOptions)
      : await loadTfModel(location, manifest.format as 'layers' | 'graph', loadOptions);
  const runner = new TfRunner(model, backend, `model ${manifest.name}@${manifest.version}`);
  return new ServedModel({ manifest, backend, runner, location, loadMs: performance.now() - started });
}

/**
 * Loads the version's ONNX file (model.onnx: the model of an `onnx` version, or the converted copy
 * beside a TF.js one) into a session on `options.engines.onnx`, the ONNX Runtime passed in.
 * Throws MODEL_NOT_READY: `format-unsupported` when the engines have no ONNX Runtime,
 * `missing-model-json`, `hash-mismatch`, `fetch-failed`, or `load-failed` when ONNX Runtime
 * refuses the file (not ONNX, an operator it lacks, a shape that does not fit the manifest).
 */
export async function loadOnnxModel(
  location: ModelLocation,
  manifest: ModelManifest,
  options: LoadModelOptions,
): Promise<ServedModel> {
  const runtime = options.engines.onnx;
  if (runtime === null)
    throw modelNotReady(
      location,
      'format-unsupported',
      `${manifest.name}@${manifest.version} needs ONNX Runtime, which this process does not run`,
    );
  const started = performance.now();
  // model.onnx, then the external data files it names (read from the folder: a remote model is one file).
  const files = isRemoteLocation(location)
    ? [await fetchOnnxFile(onnxUrlFor(location), options)]
    : await readOnnxFiles(location);
  const [file, ...externalData] = files as [ModelFile, ...ModelFile[]];
  if (isRemoteLocation(location) && onnxExternalDataFiles(file.bytes, location).length > 0) {
    throw modelNotReady(
      location,
      'format-unsupported',
      `model.onnx at ${location} keeps its weights in external data files; a model served by URL must be one file`,
    );
  }
  const expected = manifest.format === 'onnx' ? manifest.sha256 : manifest.onnx?.sha256;
  if ((options.verifyHash ?? true) && expected !== undefined) {
    const sha256 = hashModelFiles(files);
    if (sha256 !== expected)
      throw modelNotReady(
        location,
        'hash-mismatch',
        `model.onnx at ${location} hashes to ${sha256}, the manifest says ${expected}`,
      );
  }
  let created: OnnxSession;
  try {
    // The external data goes in as the bytes just hashed, so what runs is what was checked.
    created = await runtime.createSession(file.bytes, externalData);
  } catch (error) {
    throw modelNotReady(
      location,
      'load-failed',
      `onnxruntime could not load model.onnx at ${location}: ${(error as Error).message.split('\n')[0]}`,
      { cause: error },
    );
  }
  if (isTensorManifest(manifest))
    return new ServedModel({
      manifest,
      runner: new OnnxTensorRunner(created),
      location,
      loadMs: performance.now() - started,
    });
  const input = imageInputOf(manifest);
  const runner = new OnnxRunner(created, input.layout);
  const { width, height, channels } = input;
  const dims = created.session.inputMetadata?.[0];
  if (dims && 'shape' in dims && Array.isArray(dims.shape)) {
    const mismatch = onnxInputMismatch(
      {
        inputs: [
          {
            name: runner.inputName,
            elemType: null,
            dims: dims.shape.map((d) => (typeof d === 'number' && d > 0 ? d : typeof d === 'string' ? d : null)),
          },
        ],
      },
      input,
    );
    if (mismatch !== null) {
      runner.dispose();
      throw modelNotReady(
        location,
        'load-failed',
        `${manifest.name}@${manifest.version}: ${mismatch} (${width}×${height}×${channels})`,
      );
    }
  }
  return new ServedModel({ manifest, runner, location, loadMs: performance.now() - started });
}

/** For a remote TF.js location (…/model.json) the ONNX copy sits beside it; an onnx location is the file itself. */
function onnxUrlFor(location: string): string {
  return location.endsWith(`/${modelJsonFileName}`) ? new URL(onnxFileName, location).href : location;
}

/** An ONNX Runtime session as a runner: first input in, first output out. */
class OnnxRunner implements ModelRunner {
  readonly engine: string;
  readonly layout: InputLayout;
  readonly inputName: string;
  readonly #outputName: string;
  readonly #session: OnnxSession['session'];
  readonly #ort: OnnxSession['ort'];

  constructor(created: OnnxSession, layout: InputLayout) {
    this.#session = created.session;
    this.#ort = created.ort;
    this.engine = created.info.engine;
    this.layout = layout;
    this.inputName = created.session.inputNames[0] as string;
    this.#outputName = created.session.outputNames[0] as string;
  }

  async run(batch: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    const outputs = await this.#session.run({ [this.inputName]: new this.#ort.Tensor('float32', batch, shape) }, [
      this.#outputName,
    ]);
    const output = outputs[this.#outputName];
    if (!output || output.type !== 'float32')
      throw new Error(
        `the ONNX model's output "${this.#outputName}" is ${output ? output.type : 'missing'}, not float32`,
      );
    return output.data as Float32Array;
  }

  dispose(): void {
    void this.#session.release().catch(() => {});
  }
}

/**
 * An ONNX Runtime session as a tensor model's runner: every input by name, the named outputs
 * back, of any datatype ONNX Runtime and the protocol share.
 */
class OnnxTensorRunner implements ModelRunner {
  readonly engine: string;
  readonly layout = 'nhwc' as const;
  readonly #session: OnnxSession['session'];
  readonly #ort: OnnxSession['ort'];

  constructor(created: OnnxSession) {
    this.#session = created.session;
    this.#ort = created.ort;
    this.engine = created.info.engine;
  }

  run(): Promise<ArrayLike<number>> {
    return Promise.reject(
      new AppError('MODEL_KIND_MISMATCH', 'a tensor model takes named tensors, not an image batch'),
    );
  }

  async runTensors(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<Tensor[]> {
    const feeds: Record<string, Ort.Tensor> = {};
    for (const tensor of inputs) feeds[tensor.name] = ortTensor(this.#ort, tensor);
    const results = await this.#session.run(feeds, [...outputNames]);
    return outputNames.map((name) => {
      const output = results[name];
      if (!output) throw new Error(`the ONNX model did not return its output "${name}"`);
      const datatype = datatypeOfOrt(output.type);
      if (datatype === null)
        throw new Error(`the ONNX output "${name}" is ${output.type}, which the protocol does not carry`);
      // FP16 comes back as Float16Array where the runtime has it: kept as its bits, as tensors hold it.
      const data =
        datatype === 'FP16'
          ? new Uint16Array(
              (output.data as Uint16Array).buffer,
              (output.data as Uint16Array).byteOffset,
              (output.data as Uint16Array).length,
            )
          : (output.data as TensorData);
      return { name, datatype, shape: [...output.dims], data };
    });
  }

  dispose(): void {
    void this.#session.release().catch(() => {});
  }
}

/**
 * An ONNX Runtime tensor over the tensor's elements. FP16: where the process has Float16Array
 * (Node 24), onnxruntime-common turns a float16 tensor's Uint16Array into one, which the
 * onnxruntime-node 1.30 binding cannot read ("not enough space: expected 4, got 0"); the
 * tensor's data is set back to the half-float bits it takes.
 */
function ortTensor(ort: typeof Ort, tensor: Tensor): Ort.Tensor {
  const created = new ort.Tensor(ortTypeOf(tensor.datatype) as 'float32', tensor.data as Float32Array, tensor.shape);
  if (tensor.datatype === 'FP16') (created as unknown as { cpuData: TensorData }).cpuData = tensor.data;
  return created;
}

/**
 * Loads a TensorFlow SavedModel folder with `tf.node.loadSavedModel`. Only the libtensorflow
 * backends can: on wasm or cpu this throws MODEL_NOT_READY `format-unsupported`, a clear answer
 * the worker reports instead of crashing.
 */
export async function loadSavedModel(
  location: ModelLocation,
  manifest: ModelManifest,
  backend: BackendInfo,
  options: LoadTfModelOptions = {},
): Promise<{ model: TfModel; sha256: string }> {
  if (backend.tfjsBackend !== 'tensorflow') {
    throw modelNotReady(
      location,
      'format-unsupported',
      `${manifest.name}@${manifest.version} is a SavedModel; it needs the tensorflow or tensorflow-gpu backend, this process runs ${backend.name}`,
    );
  }
  if (isRemoteLocation(location))
    throw modelNotReady(location, 'format-unsupported', 'a SavedModel is served from a local folder only');
  const sha256 = hashModelFiles(await readSavedModelFiles(location));
  if (options.expectedSha256 !== undefined && sha256 !== options.expectedSha256) {
    throw modelNotReady(
      location,
      'hash-mismatch',
      `SavedModel files at ${location} hash to ${sha256}, the manifest says ${options.expectedSha256}`,
    );
  }
  const specifier: string = backend.name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const node = (await import(specifier)) as {
    node: { loadSavedModel(path: string, tags?: string[], signature?: string): Promise<SavedModelLike> };
  };
  const { tags, signature } = manifest.savedModel ?? { tags: ['serve'], signature: 'serving_default' };
  try {
    return { model: await node.node.loadSavedModel(location, tags, signature), sha256 };
  } catch (error) {
    throw modelNotReady(
      location,
      'load-failed',
      `tfjs-node could not load the SavedModel at ${location}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Loads the bare tfjs model at `location`; the caller owns it and must dispose it. */
export async function loadTfModel(
  location: ModelLocation,
  format: Exclude<ModelFormat, 'saved_model' | 'onnx'>,
  options: LoadTfModelOptions = {},
): Promise<{ model: TfModel; sha256: string }> {
  const artifacts = await readModelArtifacts(location, options);
  if (options.expectedSha256 !== undefined && artifacts.sha256 !== options.expectedSha256) {
    throw modelNotReady(
      location,
      'hash-mismatch',
      `model files at ${location} hash to ${artifacts.sha256}, the manifest says ${options.expectedSha256}`,
    );
  }
  const declared = artifacts.modelJson.format;
  if (typeof declared === 'string' && declared.length > 0 && !declared.startsWith(format)) {
    throw modelNotReady(
      location,
      'format-mismatch',
      `model.json at ${location} is a ${declared}, the manifest says ${format}`,
    );
  }
  const handler = memoryHandler(artifacts);
  try {
    const model = format === 'layers' ? await tf.loadLayersModel(handler) : await tf.loadGraphModel(handler);
    return { model, sha256: artifacts.sha256 };
  } catch (error) {
    throw modelNotReady(
      location,
      'load-failed',
      `tfjs could not build the ${format} model at ${location}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Reads model.json and its shards from a folder or an http(s) URL, and hashes them. */
export async function readModelArtifacts(
  location: ModelLocation,
  options: ReadModelArtifactsOptions = {},
): Promise<ModelArtifactFiles> {
  const files = isRemoteLocation(location) ? await fetchModelFiles(location, options) : await readModelFiles(location);
  const first = files[0] as ModelFile;
  // readModelFiles / fetchModelFiles already parsed it once; parsing twice keeps their API small.
  const modelJson = JSON.parse(
    Buffer.from(first.bytes.buffer, first.bytes.byteOffset, first.bytes.byteLength).toString('utf8'),
  ) as tf.io.ModelJSON;
  if (typeof modelJson.modelTopology !== 'object' || modelJson.modelTopology === null) {
    throw modelNotReady(location, 'invalid-model-json', `model.json at ${location} has no modelTopology`);
  }
  return { modelJson, files, sha256: hashModelFiles(files) };
}

/**
 * A tfjs IOHandler over files already in memory. tfjs has no file:// loader in the browser build
 * this package uses, and reading the files ourselves lets us hash them before tfjs sees them.
 */
function memoryHandler(artifacts: ModelArtifactFiles): tf.io.IOHandler {
  return {
    load: () =>
      tf.io.getModelArtifactsForJSON(artifacts.modelJson, async (weightsManifest) => {
        const specs = weightsManifest.flatMap((group) => group.weights);
        return [specs, concatenate(artifacts.files.slice(1))];
      }),
  };
}

function concatenate(files: ModelFile[]): ArrayBuffer {
  const total = files.reduce((sum, file) => sum + file.bytes.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const file of files) {
    out.set(file.bytes, offset);
    offset += file.bytes.byteLength;
  }
  return out.buffer;
}
