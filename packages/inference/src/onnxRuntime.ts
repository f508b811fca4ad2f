import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import onnxProto from 'onnx-proto';
import type * as Ort from 'onnxruntime-node';
import { AppError } from '@inferq/core';
import type { BackendLogger } from './backend.ts';

/**
 * ONNX Runtime's execution providers, best first:
 * - `tensorrt`: NVIDIA TensorRT (fastest on NVIDIA GPUs; builds an engine per input shape).
 * - `cuda`: NVIDIA CUDA 12 + cuDNN 9.
 * - `webgpu`: Dawn on Vulkan, shipped inside the onnxruntime-node package itself; any GPU with a
 *   Vulkan driver. Below CUDA (which is faster on NVIDIA and keeps its kernels tuned), above the
 *   CPU. `auto` tries it only where a GPU device node exists (/dev/nvidia*, /dev/dri/renderD*):
 *   a software Vulkan (lavapipe, SwiftShader) would answer with an adapter that is slower than
 *   the CPU provider on the same cores.
 * - `cpu`: MLAS kernels on the CPU, threads per `intraOpThreads`; always there.
 *
 * `tensorrt` and `cuda` need libonnxruntime_providers_{shared,cuda,tensorrt}.so beside the
 * binding; the onnxruntime-node install script downloads them on linux/x64, which this
 * workspace does not run (pnpm runs no install script of a package it does not list in
 * onlyBuiltDependencies). The Docker `gpu` target and the package README say how a GPU host
 * gets them.
 */
export const onnxProviders = ['tensorrt', 'cuda', 'webgpu', 'cpu'] as const;
export type OnnxProvider = (typeof onnxProviders)[number];
/** `auto`: the best provider that starts; `none`: do not use ONNX Runtime (TF.js only). */
export const onnxProviderPreferences = ['auto', 'none', ...onnxProviders] as const;
export type OnnxProviderPreference = (typeof onnxProviderPreferences)[number];

export interface StartOnnxRuntimeOptions {
  /** A named provider must start, else `startOnnxRuntime` throws. @defaultValue 'auto' */
  preferred?: OnnxProviderPreference;
  /**
   * Threads one model call uses on the CPU provider (ORT's intra-op pool). Measured with
   * `pnpm bench raw --threads 1,2`: N processes × 1 thread beat 1 process × N threads for
   * MobileNetV2 (docs/models/engines.md); the worker passes 1 unless told otherwise.
   * @defaultValue the cores of this host
   */
  intraOpThreads?: number;
  /** Where skipped providers and the choice are logged. @defaultValue console */
  logger?: BackendLogger;
  /** Whether a GPU device node exists (tests set it). @defaultValue looks in /dev */
  hasGpuDevice?: () => boolean;
  /**
   * ONNX Runtime's own log level (it writes to stderr, once per process). Probing providers that
   * cannot start logs errors at ERROR; their reasons are in `skipped` anyway.
   * @defaultValue 'fatal'
   */
  logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
}

export interface OnnxRuntimeInfo {
  provider: OnnxProvider;
  /** Name recorded with each result, e.g. `onnxruntime-cpu`. */
  engine: string;
  version: string;
  intraOpThreads: number;
  /** Providers tried before this one, and why each did not start. */
  skipped: Array<{ name: OnnxProvider; reason: string }>;
  initMs: number;
}

/** A session of one model on an {@link OnnxRuntime}, with the runtime's module and what it runs on. */
export interface OnnxSession {
  session: Ort.InferenceSession;
  ort: typeof Ort;
  info: OnnxRuntimeInfo;
}

/**
 * ONNX Runtime started on one execution provider: the ONNX engine a process passes to its model
 * loaders (`loadModel`, `ModelPool`). Made by {@link startOnnxRuntime}; holds no process-wide
 * state, so two of them (say a cpu one beside a cuda one) can live in one process.
 */
export class OnnxRuntime {
  readonly info: OnnxRuntimeInfo;
  readonly #ort: typeof Ort;

  constructor(ort: typeof Ort, info: OnnxRuntimeInfo) {
    this.#ort = ort;
    this.info = info;
  }

  /** The name recorded with each result, e.g. `onnxruntime-cpu`. */
  get engine(): string {
    return this.info.engine;
  }

  get provider(): OnnxProvider {
    return this.info.provider;
  }

  /**
   * A session for `bytes` (with the external data files it names, by path) on this runtime's
   * provider. Throws when ONNX Runtime cannot build the model (the caller turns that into
   * MODEL_NOT_READY).
   */
  async createSession(
    bytes: Uint8Array,
    externalData: ReadonlyArray<{ path: string; bytes: Uint8Array }> = [],
  ): Promise<OnnxSession> {
    const options = sessionOptionsFor(this.info.provider, this.info.intraOpThreads);
    // A model built from bytes has no folder to find model.onnx.data in: its files are handed over.
    if (externalData.length > 0)
      options.externalData = externalData.map((file) => ({ path: file.path, data: file.bytes }));
    const session = await this.#ort.InferenceSession.create(bytes, options);
    return { session, ort: this.#ort, info: this.info };
  }
}

/**
 * Where the ONNX provider is chosen. Loads onnxruntime-node and picks its execution provider:
 * the one `preferred` names, or for `auto` the first of tensorrt, cuda, webgpu, cpu that creates a
 * session on a tiny model and runs it. Returns the started {@link OnnxRuntime}, or null for
 * `none`, or for `auto` when the native library itself cannot load (the process then serves TF.js
 * only). Throws MODEL_NOT_READY when a named provider does not start.
 */
export async function startOnnxRuntime(options: StartOnnxRuntimeOptions = {}): Promise<OnnxRuntime | null> {
  const preferred = options.preferred ?? 'auto';
  const logger = options.logger ?? consoleLogger;
  if (preferred === 'none') return null;
  const started = performance.now();
  let ort: typeof Ort;
  try {
    ort = (await import('onnxruntime-node')) as typeof Ort;
  } catch (error) {
    if (preferred === 'auto') {
      logger.warn({ reason: describeError(error) }, 'onnxruntime-node cannot load; serving with TF.js only');
      return null;
    }
    throw new AppError('MODEL_NOT_READY', `onnxruntime-node cannot load: ${describeError(error)}`, {
      details: { preferred },
    });
  }
  // ONNX Runtime's own log level is its module's, shared by every runtime in the process.
  ort.env.logLevel = options.logLevel ?? 'fatal';
  const intraOpThreads = options.intraOpThreads ?? availableParallelism();
  const hasGpuDevice = options.hasGpuDevice ?? gpuDeviceNodeExists;
  const candidates: readonly OnnxProvider[] = preferred === 'auto' ? onnxProviders : [preferred];
  const skipped: OnnxRuntimeInfo['skipped'] = [];
  for (const provider of candidates) {
    if (preferred === 'auto' && provider === 'webgpu' && !hasGpuDevice()) {
      skipped.push({
        name: provider,
        reason:
          'no GPU device (/dev/nvidia*, /dev/dri/renderD*): WebGPU would run on a software Vulkan, slower than the cpu provider',
      });
      continue;
    }
    try {
      await probe(ort, provider, intraOpThreads);
      const info: OnnxRuntimeInfo = {
        provider,
        engine: `onnxruntime-${provider}`,
        version: ort.env.versions.node ?? ort.env.versions.common ?? 'unknown',
        intraOpThreads,
        skipped,
        initMs: performance.now() - started,
      };
      logger.info({ provider, intraOpThreads, skipped: skipped.map((s) => s.name) }, 'onnxruntime ready');
      return new OnnxRuntime(ort, info);
    } catch (error) {
      const reason = describeError(error);
      skipped.push({ name: provider, reason });
      if (preferred !== 'auto') break;
      logger.warn({ provider, reason }, 'onnxruntime provider unavailable; trying the next one');
    }
  }
  const reasons = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new AppError('MODEL_NOT_READY', `no onnxruntime provider could start (${reasons})`, {
    details: { preferred, skipped },
  });
}

/** Session options for `provider`; GPU providers keep the CPU provider for operators they lack. */
export function sessionOptionsFor(provider: OnnxProvider, intraOpThreads: number): Ort.InferenceSession.SessionOptions {
  const providers: Ort.InferenceSession.ExecutionProviderConfig[] = provider === 'cpu' ? ['cpu'] : [provider, 'cpu'];
  return {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
  };
}

async function probe(ort: typeof Ort, provider: OnnxProvider, intraOpThreads: number): Promise<void> {
  const session = await ort.InferenceSession.create(probeModel(), sessionOptionsFor(provider, intraOpThreads));
  try {
    const output = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 4]) });
    const y = output.y?.data as Float32Array | undefined;
    if (!y || y[3] !== 5)
      throw new Error(`the probe model answered ${y ? Array.from(y).join(',') : 'nothing'}, expected 2,3,4,5`);
  } finally {
    await session.release();
  }
}

/** y = x + 1 over a [1, 4] float tensor: the smallest model every provider runs. */
function probeModel(): Uint8Array {
  const { onnx } = onnxProto;
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      producerName: 'inferq-probe',
      graph: {
        name: 'probe',
        node: [{ opType: 'Add', input: ['x', 'one'], output: ['y'], name: 'add' }],
        initializer: [{ name: 'one', dims: [1], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [1] }],
        input: [
          {
            name: 'x',
            type: {
              tensorType: {
                elemType: onnx.TensorProto.DataType.FLOAT,
                shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] },
              },
            },
          },
        ],
        output: [
          {
            name: 'y',
            type: {
              tensorType: {
                elemType: onnx.TensorProto.DataType.FLOAT,
                shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] },
              },
            },
          },
        ],
      },
    }),
  ).finish();
}

function gpuDeviceNodeExists(): boolean {
  if (existsSync('/dev/nvidia0')) return true;
  try {
    return readdirSync('/dev/dri').some((name) => name.startsWith('renderD'));
  } catch {
    return false;
  }
}

function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? message).trim().slice(0, 500);
}

const consoleLogger: BackendLogger = {
  info: (fields, message) => console.info(message, fields),
  warn: (fields, message) => console.warn(message, fields),
};
