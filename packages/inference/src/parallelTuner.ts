import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { BatchPoint } from './batchTuner.ts';

/** One threads × processes layout at a fixed batch setting, measured. */
export interface ParallelPoint {
  /** ONNX Runtime intra-op threads per process (a worker's ORT_INTRA_OP_THREADS). */
  threads: number;
  /** Processes running the model side by side (a worker's WORKER_PROCESSES). */
  processes: number;
  /** Over every process together. */
  imagesPerSecond: number;
  /** The worst process's p99. */
  p99Ms: number;
}

/** What the parent tells each measuring process (over IPC). */
export interface ParallelProbeRequest {
  threads: number;
  setting: { maxBatchSize: number; maxDelayMs: number };
  durationMs: number;
}

/** A measuring process's messages: `ready` once its model is loaded and warm, then its point. */
export type ParallelProbeMessage =
  { type: 'ready' } | { type: 'point'; point: BatchPoint } | { type: 'error'; message: string };

export interface TuneParallelismOptions {
  /**
   * The script a measuring process runs: it takes one ParallelProbeRequest, loads the model with
   * that many threads, answers `ready`, waits for `go`, runs measureBatching and answers its point.
   */
  entry: string;
  /** Arguments of the entry (what to load). */
  args?: string[];
  setting: { maxBatchSize: number; maxDelayMs: number };
  budgetMs: number;
  /** @defaultValue [1, 2] */
  threads?: number[];
  /** @defaultValue [1, 2] */
  processes?: number[];
  /** Cores the layouts may use (threads × processes at most). @defaultValue availableParallelism() */
  cores?: number;
  /** Per layout. @defaultValue 1500 */
  durationMs?: number;
  /** @defaultValue none */
  onPoint?: (point: ParallelPoint) => void;
}

export interface TuneParallelismResult {
  best: ParallelPoint | null;
  points: ParallelPoint[];
}

/** The layouts tried: each threads × processes count that fits the cores, fewest cores first. */
export function parallelLayouts(
  threads: readonly number[],
  processes: readonly number[],
  cores: number,
): Array<{ threads: number; processes: number }> {
  return threads
    .flatMap((t) => processes.map((p) => ({ threads: t, processes: p })))
    .filter(({ threads: t, processes: p }) => t * p <= Math.max(1, cores))
    .sort((a, b) => a.threads * a.processes - b.threads * b.processes || a.processes - b.processes);
}

/**
 * Of the layouts whose p99 keeps the budget, those within 3% of the best rate (the noise of one
 * short point); of them the one using the fewest cores, then the lowest p99: a layout that adds
 * a core for no rate leaves the machine less for the API and the decodes.
 */
export function chooseParallel(points: readonly ParallelPoint[], budgetMs: number): ParallelPoint | null {
  const within = points.filter((point) => point.p99Ms <= budgetMs);
  if (within.length === 0) return null;
  const top = Math.max(...within.map((point) => point.imagesPerSecond));
  return (
    within
      .filter((point) => point.imagesPerSecond >= top * 0.97)
      .sort((a, b) => a.threads * a.processes - b.threads * b.processes || a.p99Ms - b.p99Ms)[0] ?? null
  );
}

/**
 * Measures the model at one batch setting in each threads × processes layout that fits the
 * machine: `processes` copies, each in a process of its own with `threads` intra-op threads
 * (ONNX Runtime's thread count is per process, as on a worker), loaded and warmed before all of
 * them start together. Their rates add up; the worst p99 counts.
 */
export async function tuneParallelism(options: TuneParallelismOptions): Promise<TuneParallelismResult> {
  const points: ParallelPoint[] = [];
  for (const layout of parallelLayouts(
    options.threads ?? [1, 2],
    options.processes ?? [1, 2],
    options.cores ?? availableParallelism(),
  )) {
    const measured = await measureLayout(options, layout);
    const point: ParallelPoint = {
      ...layout,
      imagesPerSecond: measured.reduce((sum, p) => sum + p.imagesPerSecond, 0),
      p99Ms: Math.max(...measured.map((p) => p.p99Ms)),
    };
    points.push(point);
    options.onPoint?.(point);
  }
  return { best: chooseParallel(points, options.budgetMs), points };
}

async function measureLayout(
  options: TuneParallelismOptions,
  layout: { threads: number; processes: number },
): Promise<BatchPoint[]> {
  const children: ChildProcess[] = [];
  try {
    const request: ParallelProbeRequest = {
      threads: layout.threads,
      setting: options.setting,
      durationMs: options.durationMs ?? 1500,
    };
    const answers = Array.from({ length: layout.processes }, () => {
      const child = fork(options.entry, options.args ?? [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      children.push(child);
      const next = () =>
        new Promise<ParallelProbeMessage>((resolve, reject) => {
          const onExit = (code: number | null) =>
            reject(new Error(`a measuring process exited (${code}) before answering`));
          child.once('exit', onExit);
          child.once('message', (message: ParallelProbeMessage) => {
            child.off('exit', onExit);
            if (message.type === 'error') reject(new Error(message.message));
            else resolve(message);
          });
        });
      const ready = next();
      child.send(request);
      return { child, ready, next };
    });
    await Promise.all(answers.map((answer) => answer.ready));
    // All loaded and warm: they start together, so they contend as a worker's processes do.
    const results = answers.map((answer) => answer.next());
    for (const { child } of answers) child.send('go');
    return (await Promise.all(results)).map((message) => (message as { point: BatchPoint }).point);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}
