import { fork, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';

export interface WorkerSupervisorOptions {
  /** The worker entry file each child runs. */
  entry: string;
  /** Worker processes to keep running. */
  processes: number;
  /** Children are named `<workerId>-1` … `<workerId>-N`. */
  workerId: string;
  /** Health port of the first child; child i gets port + i (0: each picks a free one). */
  port: number;
  /** How long children get to finish their jobs after SIGTERM before they are killed. */
  shutdownTimeoutMs: number;
  logger: Logger;
  /** First delay before restarting a child that died; doubles while children keep dying, up to 30 s. @defaultValue 1000 */
  restartDelayMs?: number;
  /**
   * ONNX Runtime threads of each child (ORT_INTRA_OP_THREADS in its environment).
   * @defaultValue unset: each child's own default (1 thread; the processes use the cores)
   */
  ortIntraOpThreads?: number;
}

/**
 * Runs N worker processes on one host and keeps them running. The wasm backend uses one thread
 * in Node (tfjs turns its threaded build off there), so one process per core is how a host uses
 * all its cores; each child is a complete worker (own tfjs engine, models, queue connection).
 * Children inherit stdout/stderr, so their JSON logs come out of this process unchanged.
 * The process's signals reach the children through {@link stop} (index.ts wires it to
 * handleShutdown); `run` resolves once every child has exited after it.
 */
export class WorkerSupervisor {
  readonly #options: WorkerSupervisorOptions;
  readonly #children = new Map<number, ChildProcess>();
  #stopping = false;
  #stopped: (() => void) | undefined;

  constructor(options: WorkerSupervisorOptions) {
    this.#options = options;
  }

  /** Starts the children and keeps them running; resolves once {@link stop} has seen every one exit. */
  run(): Promise<void> {
    const { logger, processes } = this.#options;
    logger.info({ processes }, 'supervising worker processes');
    for (let index = 0; index < processes; index++) this.#start(index, this.#options.restartDelayMs ?? 1000);
    return new Promise((resolve) => {
      this.#stopped = resolve;
    });
  }

  /**
   * Passes `signal` on to every child and waits for all of them to exit; one still running
   * `shutdownTimeoutMs` + 5 s later is killed.
   */
  async stop(signal: NodeJS.Signals): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const { logger } = this.#options;
    logger.info({ signal, children: this.#children.size }, 'stopping worker processes');
    for (const child of this.#children.values()) child.kill(signal);
    const force = setTimeout(() => this.kill(), this.#options.shutdownTimeoutMs + 5000);
    force.unref();
    await this.#allExited();
    clearTimeout(force);
    logger.info('all worker processes stopped');
    this.#stopped?.();
  }

  /** No more waiting: every child is killed. */
  kill(): void {
    this.#stopping = true;
    for (const child of this.#children.values()) child.kill('SIGKILL');
  }

  #start(index: number, restartDelayMs: number): void {
    const { entry, workerId, port, logger } = this.#options;
    const childId = `${workerId}-${index + 1}`;
    const child = fork(entry, [], {
      // Under `node --cpu-prof-name=X.cpuprofile` (the benchmarks' profiles) each child writes its own X-N.cpuprofile.
      execArgv: process.execArgv.map((arg) =>
        arg.startsWith('--cpu-prof-name=') ? arg.replace(/(\.cpuprofile)?$/, `-${index + 1}$1`) : arg,
      ),
      env: {
        ...process.env,
        WORKER_PROCESSES: '1',
        WORKER_ID: childId,
        WORKER_PORT: String(port === 0 ? 0 : port + index),
        ...(this.#options.ortIntraOpThreads !== undefined
          ? { ORT_INTRA_OP_THREADS: String(this.#options.ortIntraOpThreads) }
          : {}),
      },
      stdio: 'inherit',
    });
    const startedAt = Date.now();
    this.#children.set(index, child);
    child.once('exit', (code, signal) => {
      this.#children.delete(index);
      if (this.#stopping) return;
      // A child that ran a while before dying is restarted quickly; one that keeps dying backs off.
      const delay =
        Date.now() - startedAt > 30_000 ? (this.#options.restartDelayMs ?? 1000) : Math.min(restartDelayMs * 2, 30_000);
      logger.error({ workerId: childId, code, signal, restartInMs: delay }, 'worker process exited; restarting it');
      setTimeout(() => {
        if (!this.#stopping) this.#start(index, delay);
      }, delay).unref();
    });
  }

  async #allExited(): Promise<void> {
    while (this.#children.size > 0) {
      await Promise.all(
        [...this.#children.values()].map(
          (child) =>
            new Promise((resolve) =>
              child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve),
            ),
        ),
      );
    }
  }
}
