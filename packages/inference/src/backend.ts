import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AppError } from '@inferq/core';

/**
 * The TensorFlow.js engine that runs models in this process:
 * - `tensorflow-gpu`: `@tensorflow/tfjs-node-gpu` (libtensorflow with CUDA).
 * - `tensorflow`: `@tensorflow/tfjs-node` (libtensorflow on the CPU, all cores).
 * - `wasm`: `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD; one thread in Node).
 * - `cpu`: plain JavaScript kernels; slow, always there.
 *
 * The two tfjs-node packages are not dependencies: they download libtensorflow in an install
 * script, which offline installs and pnpm's default build policy do not run. GPU or native images
 * add them (see the package README); `auto` picks them up when they import.
 */
export const backendKinds = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendKind = (typeof backendKinds)[number];
export const backendPreferences = ['auto', ...backendKinds] as const;
export type BackendPreference = (typeof backendPreferences)[number];

/** Order `auto` tries, best first. */
export const autoBackendOrder: readonly BackendKind[] = backendKinds;

const nodePackages = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
} as const;

/** Pino's and console's `(fields, message)` calls both fit this. */
export interface BackendLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface StartTfjsBackendOptions {
  /**
   * Which backend to run. A named backend must load or `startTfjsBackend` throws; `auto` takes the
   * first of tensorflow-gpu, tensorflow, wasm, cpu that loads and logs why the others did not.
   * @defaultValue 'auto'
   */
  preferred?: BackendPreference;
  /** Where skipped backends and the choice are logged. @defaultValue console */
  logger?: BackendLogger;
  /**
   * Turn on tfjs production mode: no debug checks, no "install tfjs-node" warning on the cpu
   * backend.
   * @defaultValue true
   */
  prodMode?: boolean;
}

export interface BackendInfo {
  name: BackendKind;
  /** tfjs's own name for the backend (`tensorflow`, `wasm`, `cpu`). */
  tfjsBackend: string;
  /** tfjs package versions, plus `tfjs-node` / `tensorflow` for the native backends. */
  versions: Record<string, string>;
  /** wasm only: whether the SIMD binary runs, and how many threads it uses (1 in Node). */
  wasm?: { simd: boolean; threads: number };
  /** tensorflow-gpu only: whether libtensorflow found a GPU (it falls back to the CPU quietly). */
  gpu?: boolean;
  /** Backends tried before this one and why each failed. */
  skipped: Array<{ name: BackendKind; reason: string }>;
  /** Time spent choosing and starting the backend. */
  initMs: number;
}

/** Tensors alive in this process's tfjs engine and their bytes; flat between batches unless something leaks. */
export function tensorMemory(): { numTensors: number; numBytes: number } {
  const { numTensors, numBytes } = tf.memory();
  return { numTensors, numBytes };
}

/**
 * Where the TF.js backend is chosen: starts the preferred one (or, for `auto`, the first of
 * tensorflow-gpu, tensorflow, wasm, cpu that starts) and returns what it started, the TF.js engine
 * a process passes to its model loaders (`loadModel`, `ModelPool`). tfjs itself keeps one backend
 * per process, so the last call wins: call it once at boot, before loading models. Throws
 * MODEL_NOT_READY when the preferred backend (or, for `auto`, every backend) fails to start.
 */
export async function startTfjsBackend(options: StartTfjsBackendOptions = {}): Promise<BackendInfo> {
  const preferred = options.preferred ?? 'auto';
  const logger = options.logger ?? consoleLogger;
  if (options.prodMode ?? true) tf.enableProdMode();
  const startedAt = performance.now();
  const candidates = preferred === 'auto' ? autoBackendOrder : [preferred];
  const skipped: BackendInfo['skipped'] = [];
  for (const kind of candidates) {
    try {
      const info = await startBackend(kind);
      const started: BackendInfo = { ...info, skipped, initMs: performance.now() - startedAt };
      logger.info(
        {
          backend: kind,
          tfjsBackend: started.tfjsBackend,
          wasm: started.wasm,
          gpu: started.gpu,
          skipped: skipped.map((s) => s.name),
        },
        'tfjs backend ready',
      );
      if (kind === 'tensorflow-gpu' && started.gpu === false)
        logger.warn({ backend: kind }, 'tfjs-node-gpu loaded but libtensorflow found no GPU; running on the CPU');
      return started;
    } catch (error) {
      const reason = describeError(error);
      skipped.push({ name: kind, reason });
      if (preferred !== 'auto') break;
      logger.warn({ backend: kind, reason }, 'tfjs backend unavailable; trying the next one');
    }
  }
  const reasons = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new AppError('MODEL_NOT_READY', `no tfjs backend could start (${reasons})`, {
    details: { preferred, skipped },
  });
}

async function startBackend(kind: BackendKind): Promise<Omit<BackendInfo, 'skipped' | 'initMs'>> {
  switch (kind) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return startNodeBackend(kind);
    case 'wasm':
      return startWasmBackend();
    case 'cpu':
      await setBackend('cpu');
      return { name: 'cpu', tfjsBackend: 'cpu', versions: { ...tf.version } };
  }
}

async function startNodeBackend(
  kind: 'tensorflow-gpu' | 'tensorflow',
): Promise<Omit<BackendInfo, 'skipped' | 'initMs'>> {
  // A variable specifier: the packages are optional, so the type checker must not look for them.
  const specifier: string = nodePackages[kind];
  // Importing registers the `tensorflow` backend in tfjs's process-wide engine; it throws when the
  // package is absent or its native binding (libtensorflow) was never downloaded.
  const mod = (await import(specifier)) as { version?: Record<string, string> };
  await setBackend('tensorflow');
  const info: Omit<BackendInfo, 'skipped' | 'initMs'> = {
    name: kind,
    tfjsBackend: 'tensorflow',
    versions: { ...tf.version, ...stringEntries(mod.version) },
  };
  if (kind === 'tensorflow-gpu') {
    const usingGpu = (tf.backend() as unknown as { isUsingGpuDevice?: unknown }).isUsingGpuDevice;
    if (typeof usingGpu === 'boolean') info.gpu = usingGpu;
  }
  return info;
}

async function startWasmBackend(): Promise<Omit<BackendInfo, 'skipped' | 'initMs'>> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // In Node the package's main is its CommonJS build in dist/, beside the three .wasm binaries
  // (plain, SIMD, threaded SIMD). Point at that folder explicitly so a bundler or test runner
  // that moves the JavaScript cannot break the lookup.
  wasm.setWasmPaths(`${wasmDistFolder()}${path.sep}`);
  // The Emscripten glue adds process handlers that rethrow every uncaught exception and unhandled
  // rejection, overriding the app's own handlers; take them off again.
  const before = processHandlers();
  try {
    await setBackend('wasm');
  } finally {
    removeHandlersAddedSince(before);
  }
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  return {
    name: 'wasm',
    tfjsBackend: 'wasm',
    versions: { ...tf.version, 'tfjs-backend-wasm': wasm.version_wasm },
    wasm: { simd, threads: wasm.getThreadsCount() },
  };
}

type ProcessHandler = (...args: unknown[]) => void;
const guardedEvents = ['uncaughtException', 'unhandledRejection'] as const;
// Seen as a plain emitter: process's typed overloads take one event name literal at a time.
const processEvents = process as unknown as NodeJS.EventEmitter;

function processHandlers(): Map<string, ProcessHandler[]> {
  return new Map(guardedEvents.map((event) => [event, processEvents.listeners(event) as ProcessHandler[]]));
}

function removeHandlersAddedSince(before: Map<string, ProcessHandler[]>): void {
  for (const event of guardedEvents) {
    const known = new Set(before.get(event));
    for (const handler of processEvents.listeners(event) as ProcessHandler[])
      if (!known.has(handler)) processEvents.removeListener(event, handler);
  }
}

/** The folder holding tfjs-backend-wasm's .wasm files. */
export function wasmDistFolder(): string {
  return path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
}

async function setBackend(name: string): Promise<void> {
  // setBackend answers false (and logs) instead of throwing when the backend fails to start.
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
  await tf.ready();
}

function stringEntries(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof value !== 'object' || value === null) return out;
  for (const [key, v] of Object.entries(value)) if (typeof v === 'string') out[key] = v;
  return out;
}

function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const firstLine = (message.split('\n')[0] ?? message).trim();
  return typeof code === 'string' ? `${code}: ${firstLine}` : firstLine;
}

const consoleLogger: BackendLogger = {
  info: (fields, message) => console.info(message, fields),
  warn: (fields, message) => console.warn(message, fields),
};
