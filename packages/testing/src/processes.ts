import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './testServices.ts';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A child process of the platform (API or worker) whose JSON log lines can be awaited. */
export class PlatformProcess {
  readonly child: ChildProcess;
  readonly name: string;
  /** The most recent log lines (older ones are dropped past 5000). */
  readonly lines: LogLine[] = [];
  /** How often each log message was seen over the whole life of the process. */
  readonly messageCounts = new Map<string, number>();
  readonly #waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  readonly exited: Promise<number | null>;

  constructor(name: string, entry: string, env: Record<string, string>) {
    this.name = name;
    this.child = spawn(process.execPath, [path.join(repoRoot, entry)], {
      cwd: repoRoot,
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onLine = (text: string) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { level: 50, msg: text };
      }
      this.lines.push(line);
      this.messageCounts.set(line.msg, (this.messageCounts.get(line.msg) ?? 0) + 1);
      if (this.lines.length > 5000) this.lines.splice(0, 1000);
      for (const waiter of this.#waiters) {
        if (waiter.match(line)) {
          this.#waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    };
    createInterface({ input: this.child.stdout! }).on('line', onLine);
    createInterface({ input: this.child.stderr! }).on('line', onLine);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Resolves with the first log line (past or future) that matches; rejects on exit or timeout. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (line: LogLine) => (clearTimeout(timer), resolve(line)) };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`${this.name}: no matching log line within ${timeoutMs} ms; last lines:\n${this.tail()}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
      void this.exited.then((code) => {
        if (!this.#waiters.has(waiter)) return;
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with ${code}; last lines:\n${this.tail()}`));
      });
    });
  }

  tail(count = 20): string {
    return this.lines
      .slice(-count)
      .map((line) => JSON.stringify(line))
      .join('\n');
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export interface PlatformEnv {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  modelsDir: string;
  queueName?: string;
  extra?: Record<string, string>;
}

function commonEnv(options: PlatformEnv): Record<string, string> {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: options.queuePrefix,
    QUEUE_NAME: options.queueName ?? 'inference',
    MODELS_DIR: options.modelsDir,
  };
}

/** Starts the API on a free port and resolves once it listens. */
export async function startApiProcess(options: PlatformEnv): Promise<{ process: PlatformProcess; baseUrl: string }> {
  const child = new PlatformProcess('api', 'apps/api/src/index.ts', {
    ...commonEnv(options),
    PORT: '0',
    HOST: '127.0.0.1',
    ...options.extra,
  });
  const line = await child.waitForLog((entry) => entry.msg === 'api listening');
  return { process: child, baseUrl: `http://127.0.0.1:${line.port as number}` };
}

/** Starts a worker and resolves once its model is loaded and it takes jobs. */
export async function startWorkerProcess(
  options: PlatformEnv & { workerId?: string },
): Promise<{ process: PlatformProcess; healthUrl: string }> {
  const child = new PlatformProcess(
    `worker${options.workerId ? `-${options.workerId}` : ''}`,
    'apps/worker/src/index.ts',
    {
      ...commonEnv(options),
      WORKER_PORT: '0',
      WORKER_HOST: '127.0.0.1',
      TF_BACKEND: 'wasm',
      // Tests share one database across queues: a reconciler would re-enqueue other tests' rows
      // into this worker's queue. Tests of reconciliation turn it on with a database of their own.
      RECONCILE_INTERVAL_MS: '0',
      // Tests share a busy machine with other test runs: a niced worker would wait behind all of them.
      WORKER_NICE: '0',
      // One process, whose logs and health endpoint the test reads (the default is one per core).
      WORKER_PROCESSES: '1',
      ...(options.workerId ? { WORKER_ID: options.workerId } : {}),
      ...options.extra,
    },
  );
  const health = await child.waitForLog((entry) => entry.msg === 'worker health endpoint listening');
  await child.waitForLog((entry) => entry.msg === 'worker taking jobs', 120_000);
  return { process: child, healthUrl: `http://127.0.0.1:${health.port as number}` };
}
