// The raw model limit: the worker's model and backend in P child processes, no HTTP, queue or
// database; images per second summed over the processes, measured at the same moment in all.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ChildReplies } from './childReplies.ts';
import type { PreprocessStage, RawCommand, RawReply } from './rawChild.ts';

export interface RawOptions {
  modelsDir: string;
  model: string;
  processes: number;
  batches: number[];
  /** Seconds per measurement. */
  seconds: number;
  /** `tfjs-wasm`, `onnxruntime-cpu`, `onnxruntime-cuda`, … @defaultValue 'onnxruntime-cpu' (the worker's engine for the shipped models) */
  backend?: string;
  /** ONNX Runtime threads per process. @defaultValue 1 */
  threads?: number;
}

export interface RawRow {
  processes: number;
  batch: number;
  imagesPerSecond: number;
  /** Milliseconds per image in one process. */
  msPerImage: number;
}

export interface RawResult {
  backend: string;
  simd: boolean | null;
  rows: RawRow[];
  /** The best images/s over the batch sizes tried. */
  best: RawRow;
}

class RawProcess {
  readonly child: ChildProcess;
  readonly #replies: ChildReplies<RawReply>;

  constructor(options: RawOptions) {
    const args = [
      '--models-dir',
      options.modelsDir,
      '--model',
      options.model,
      '--backend',
      options.backend ?? 'onnxruntime-cpu',
      '--threads',
      String(options.threads ?? 1),
      '--batches',
      options.batches.join(','),
    ];
    this.child = fork(path.join(import.meta.dirname, 'rawChild.ts'), args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#replies = new ChildReplies(this.child, 'raw benchmark process');
  }

  next(): Promise<RawReply> {
    return this.#replies.next();
  }

  async command(command: RawCommand): Promise<Extract<RawReply, { kind: 'done' }>> {
    this.child.send(command);
    const reply = await this.next();
    if (reply.kind !== 'done')
      throw new Error(`raw benchmark process: ${reply.kind === 'error' ? reply.message : reply.kind}`);
    return reply;
  }

  stop(): void {
    if (this.child.connected) this.child.send({ cmd: 'exit' } satisfies RawCommand);
    setTimeout(() => this.child.kill('SIGKILL'), 5000).unref();
  }
}

async function startProcesses(
  options: RawOptions,
): Promise<{ processes: RawProcess[]; backend: string; simd: boolean | null }> {
  const processes = Array.from({ length: options.processes }, () => new RawProcess(options));
  const replies = await Promise.all(processes.map((p) => p.next()));
  const failed = replies.find((reply) => reply.kind !== 'ready');
  if (failed) {
    processes.forEach((p) => p.stop());
    throw new Error(`raw benchmark process failed to start: ${failed.kind === 'error' ? failed.message : failed.kind}`);
  }
  const ready = replies[0] as Extract<RawReply, { kind: 'ready' }>;
  return { processes, backend: ready.backend, simd: ready.simd };
}

/** Images/s of the model alone at each batch size, summed over `processes` processes. */
export async function measureRaw(options: RawOptions): Promise<RawResult> {
  const { processes, backend, simd } = await startProcesses(options);
  try {
    const rows: RawRow[] = [];
    for (const batch of options.batches) {
      const done = await Promise.all(
        processes.map((p) => p.command({ cmd: 'predict', batch, ms: options.seconds * 1000 })),
      );
      const imagesPerSecond = done.reduce((sum, reply) => sum + (reply.items * 1000) / reply.ms, 0);
      rows.push({
        processes: options.processes,
        batch,
        imagesPerSecond,
        msPerImage: (options.processes * 1000) / imagesPerSecond,
      });
    }
    const best = rows.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));
    return { backend, simd, rows, best };
  } finally {
    processes.forEach((p) => p.stop());
  }
}

/**
 * The bare pipeline's ceiling: images/s summed over `processes` processes, each a plain loop of
 * full decode, exact resize, scale and the model at batch 1 over `images` (files) in turn.
 */
export async function measureBare(
  options: Omit<RawOptions, 'batches'> & { images: string[] },
): Promise<{ imagesPerSecond: number; msPerImage: number }> {
  const { processes } = await startProcesses({ ...options, batches: [1] });
  try {
    const done = await Promise.all(
      processes.map((p) => p.command({ cmd: 'bare', ms: options.seconds * 1000, images: options.images })),
    );
    const imagesPerSecond = done.reduce((sum, reply) => sum + (reply.items * 1000) / reply.ms, 0);
    return { imagesPerSecond, msPerImage: (options.processes * 1000) / imagesPerSecond };
  } finally {
    processes.forEach((p) => p.stop());
  }
}

/** Images/s of the worker's preprocessing (decode, resize, scale) of one upload, one process, one at a time. */
export async function measurePreprocess(
  options: RawOptions & { width: number; height: number },
): Promise<Record<PreprocessStage, { imagesPerSecond: number; msPerImage: number }>> {
  const { processes } = await startProcesses({ ...options, processes: 1, batches: [1] });
  try {
    const stages: PreprocessStage[] = ['decode', 'prepared', 'validate', 'validate-pixels'];
    const result = {} as Record<PreprocessStage, { imagesPerSecond: number; msPerImage: number }>;
    for (const stage of stages) {
      const reply = await processes[0]!.command({
        cmd: 'preprocess',
        stage,
        ms: options.seconds * 1000,
        width: options.width,
        height: options.height,
      });
      const imagesPerSecond = (reply.items * 1000) / reply.ms;
      result[stage] = { imagesPerSecond, msPerImage: 1000 / imagesPerSecond };
    }
    return result;
  } finally {
    processes.forEach((p) => p.stop());
  }
}
