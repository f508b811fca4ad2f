import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { styleText } from 'node:util';
import { formatLogLine, type LogFormatOptions } from './logFormat.ts';

type Color = Parameters<typeof styleText>[0];

export interface ServiceSpec {
  /** The prefix of its log lines. */
  name: string;
  color: Color;
  command: string;
  args: string[];
  /** Added to the supervisor's own environment. */
  env?: Record<string, string>;
  cwd?: string;
  /**
   * A line (raw, as the process wrote it) that says the service is ready; without one it is
   * ready once spawned.
   */
  ready?: (line: string) => boolean;
  /** Sees every line (raw) the service writes, after it is printed. @defaultValue none */
  onLine?: (line: string) => void;
  /**
   * A server the apps use (Postgres, Redis): started in a process group of its own so that the
   * terminal's Ctrl-C does not stop it under the apps, and stopped after every app has exited.
   * @defaultValue false
   */
  infrastructure?: boolean;
  /**
   * How long a service may take to stop before it is killed.
   * @defaultValue 20000
   */
  stopTimeoutMs?: number;
  /**
   * How long it may take to become ready.
   * @defaultValue 180000
   */
  readyTimeoutMs?: number;
}

export interface RunningService {
  readonly spec: ServiceSpec;
  readonly child: ChildProcess;
  /** The line `ready` matched. */
  readonly readyLine: string | undefined;
  readonly exited: Promise<number | null>;
}

export interface SupervisorOptions {
  /** Where the prefixed lines go. */
  write: (line: string) => void;
  format?: LogFormatOptions;
  /** A service exited while the supervisor was not stopping it. */
  onUnexpectedExit: (service: RunningService, code: number | null, signal: NodeJS.Signals | null) => void;
}

/**
 * Runs the stack's processes: prefixed, colored output; each one awaited until it says it is
 * ready; stopped in order (the apps together, then the servers they use, last started first).
 */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #services: RunningService[] = [];
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Starts a service and resolves once it is ready; rejects (with its last lines) if it exits or times out first. */
  start(spec: ServiceSpec): Promise<RunningService> {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: spec.infrastructure ?? false,
    });
    const tail: string[] = [];
    let readyLine: string | undefined;
    let markReady: (line: string) => void = () => {};
    // 'close', not 'exit': its last lines are read (and printed) before the next service is stopped.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const service: RunningService = {
      spec,
      child,
      get readyLine() {
        return readyLine;
      },
      exited,
    };
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      this.#options.write(formatLogLine(spec.name, spec.color, line, this.#options.format));
      spec.onLine?.(line);
      if (readyLine === undefined && spec.ready?.(line)) markReady(line);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    this.#services.push(service);

    return new Promise<RunningService>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(
        () => fail(new Error(`${spec.name} was not ready within ${(spec.readyTimeoutMs ?? 180_000) / 1000} s`)),
        spec.readyTimeoutMs ?? 180_000,
      );
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(Object.assign(error, { tail: tail.join('\n') }));
      };
      markReady = (line: string) => {
        readyLine = line;
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(service);
      };
      child.once('error', (error) => fail(new Error(`${spec.name} could not start: ${error.message}`)));
      child.once('close', (code, signal) => {
        if (!settled) fail(new Error(`${spec.name} exited (${signal ?? `code ${code}`}) before it was ready`));
        else if (!this.#stopping) this.#options.onUnexpectedExit(service, code, signal);
      });
      if (!spec.ready) child.once('spawn', () => markReady(''));
    });
  }

  /** Stops every service: the apps together, then the servers they use, last started first. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const running = this.#services.filter(
      (service) => service.child.exitCode === null && service.child.signalCode === null,
    );
    await Promise.all(running.filter((service) => !service.spec.infrastructure).map(stopService));
    for (const service of running.filter((each) => each.spec.infrastructure).reverse()) await stopService(service);
  }

  /** Second Ctrl-C: no more waiting. */
  kill(): void {
    this.#stopping = true;
    for (const service of this.#services) signal(service, 'SIGKILL');
  }
}

function signal(service: RunningService, name: NodeJS.Signals): void {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    // Killed, a process group of its own goes whole: what it started too (Postgres under its
    // launcher). Asked to stop, the launcher stops what it started itself, in its own way.
    if (service.spec.infrastructure && name === 'SIGKILL') process.kill(-child.pid, name);
    else child.kill(name);
  } catch {
    // Gone already.
  }
}

async function stopService(service: RunningService): Promise<void> {
  signal(service, 'SIGTERM');
  const timer = setTimeout(() => signal(service, 'SIGKILL'), service.spec.stopTimeoutMs ?? 20_000);
  await service.exited;
  clearTimeout(timer);
}
