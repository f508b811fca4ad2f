import { startTfjsBackend, type BackendInfo, type BackendLogger, type BackendPreference } from './backend.ts';
import { startOnnxRuntime, type OnnxProviderPreference, type OnnxRuntime } from './onnxRuntime.ts';

/*
 * Terminology: an engine runs model versions (TF.js, ONNX Runtime); a backend is the TF.js
 * engine's kernels (wasm, tensorflow, …); a provider is ONNX Runtime's (cpu, cuda, …).
 */

/**
 * The engines a process runs models on, built once by its composition root and passed to whatever
 * loads models (`loadModel`, `ModelPool`). Nothing reads them from module state, so a test or a
 * tool picks its own (`{ tfjs: null, onnx: await startOnnxRuntime({ preferred: 'cpu' }) }`).
 */
export interface InferenceEngines {
  /** The TF.js backend ({@link startTfjsBackend}), or null where this process runs no TF.js models. */
  tfjs: BackendInfo | null;
  /** ONNX Runtime on its chosen provider ({@link startOnnxRuntime}), or null (`none`, or not loadable under `auto`). */
  onnx: OnnxRuntime | null;
}

export interface CreateInferenceEnginesOptions {
  /** The TF.js backend to start (`TF_BACKEND`). @defaultValue 'auto' */
  tfjsBackend?: BackendPreference;
  /** The ONNX Runtime provider to start, or `none` (`ORT_PROVIDER`). @defaultValue 'auto' */
  onnxProvider?: OnnxProviderPreference;
  /** Threads one call uses on ONNX Runtime's cpu provider (`ORT_INTRA_OP_THREADS`). @defaultValue the cores of this host */
  intraOpThreads?: number;
  /** Where skipped backends and providers, and the choices, are logged. @defaultValue console */
  logger?: BackendLogger;
}

/**
 * Starts both engines from a process's settings: the TF.js backend, then ONNX Runtime beside it
 * (versions with an ONNX file run on it, the others on TF.js). A named backend or provider that
 * does not start throws MODEL_NOT_READY, which fails the boot.
 */
export async function createInferenceEngines(
  options: CreateInferenceEnginesOptions = {},
): Promise<InferenceEngines & { tfjs: BackendInfo }> {
  const tfjs = await startTfjsBackend({ preferred: options.tfjsBackend, logger: options.logger });
  const onnx = await startOnnxRuntime({
    preferred: options.onnxProvider,
    intraOpThreads: options.intraOpThreads,
    logger: options.logger,
  });
  return { tfjs, onnx };
}
