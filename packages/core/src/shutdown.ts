import { constants } from 'node:os';

// A module of its own (`@inferq/core/shutdown`), not in the package's index: the index is also
// read by the dashboard's browser build, and this one needs the Node process.

/** What the shutdown helper logs through: any pino logger (or a test's). */
export interface ShutdownLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

/** One step of a process's stop, run after the previous one has finished. */
export interface ShutdownStep {
  /** Named in the log when the step fails. */
  name: string;
  /** Stops the piece; given what started the shutdown (a signal name, or the caller's reason). */
  close: (reason: string) => unknown;
}

export interface ShutdownOptions {
  logger: ShutdownLogger;
  /** The steps, in order: stop accepting, let work in flight finish, close connections. */
  steps: ShutdownStep[];
  /**
   * Longest the steps may take together; past it the process exits with code 1.
   * @defaultValue undefined: no bound (each step bounds itself)
   */
  timeoutMs?: number | undefined;
  /** Signals that start the shutdown. @defaultValue ['SIGTERM', 'SIGINT'] */
  signals?: NodeJS.Signals[];
  /** The log line when the shutdown starts. @defaultValue 'shutting down' */
  startMessage?: string;
  /** The log line when the bound is passed: say what happens to the unfinished work. @defaultValue 'shutdown timed out; exiting' */
  timeoutMessage?: string;
  /**
   * A signal within this many milliseconds of the first belongs to the same stop, not a second
   * one: a Ctrl-C signals the whole process group, so a child gets SIGINT from the terminal and,
   * a moment later, the signal its supervisor passes on (pnpm, `pnpm start`'s supervisor, the
   * worker supervisor). @defaultValue 1000
   */
  repeatGraceMs?: number;
  /** Run on a second signal before exiting at once (kill what the steps were waiting for). @defaultValue nothing */
  onForce?: () => void;
  /** Run just before every exit: flush an asynchronous log destination. @defaultValue nothing */
  flush?: () => void;
}

export interface ProcessShutdown {
  /** Stops the process as a signal would, with `exitCode` once the steps are done (an app's own reason: a child that died). */
  shutdown(reason: string, exitCode?: number): Promise<void>;
}

/** The exit code of a process ended by `signal`, as a shell reports it (128 + its number). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * Runs `steps` one after another; a step that throws is logged at warn and the next one still
 * runs (closing the rest matters more than the one that failed). A composition root's `close()`.
 */
export async function closeInOrder(
  steps: readonly ShutdownStep[],
  reason: string,
  logger: Pick<ShutdownLogger, 'warn'>,
): Promise<void> {
  for (const step of steps) {
    try {
      await step.close(reason);
    } catch (error) {
      logger.warn({ err: error, step: step.name }, 'shutdown step failed; going on with the next');
    }
  }
}

/**
 * The one way a long-running process stops. On the first signal the steps run in order
 * ({@link closeInOrder}). Once they are done the process exits 0 (or the code the
 * caller asked for). If they take longer than `timeoutMs` it exits 1; a second signal (past
 * `repeatGraceMs`) exits at once with the signal's code (130 for SIGINT).
 */
export function handleShutdown(options: ShutdownOptions): ProcessShutdown {
  const { logger, steps } = options;
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let stopping = false;
  let firstSignalAt: number | undefined;

  const leave = (code: number) => {
    options.flush?.();
    process.exit(code);
  };

  async function shutdown(reason: string, exitCode = 0): Promise<void> {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: reason }, options.startMessage ?? 'shutting down');
    if (options.timeoutMs !== undefined) {
      const force = setTimeout(() => {
        logger.error({ timeoutMs: options.timeoutMs }, options.timeoutMessage ?? 'shutdown timed out; exiting');
        leave(1);
      }, options.timeoutMs);
      force.unref();
    }
    await closeInOrder(steps, reason, logger);
    logger.info({}, 'stopped');
    leave(exitCode);
  }

  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) {
      firstSignalAt = performance.now();
      void shutdown(signal);
      return;
    }
    if (firstSignalAt !== undefined && performance.now() - firstSignalAt < (options.repeatGraceMs ?? 1000)) return;
    logger.warn({ signal }, 'second signal; exiting now');
    options.onForce?.();
    leave(signalExitCode(signal));
  };
  for (const signal of signals) process.on(signal, onSignal);

  return { shutdown };
}
