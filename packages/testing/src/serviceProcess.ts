import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { processRuntimeEnv } from '@inferq/core/garbageCollection';
import { repoRoot } from './testServices.ts';

/**
 * A process of the platform (API, worker, webhook dispatcher) as benchmarks run it: production
 * settings, its log in a file (not parsed: the benchmark shares the same cores), ready once
 * `readyPath` answers 200. Tests that await log lines use PlatformProcess (processes.ts) instead.
 */
export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  url: string;
  logFile: string;
  stop(): Promise<void>;
}

async function waitReady(
  url: string,
  readyPath: string,
  child: ChildProcess,
  logFile: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const response = await fetch(`${url}${readyPath}`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
  throw new Error(`${url} not ready (exit ${child.exitCode}); last log lines:\n${tail}`);
}

/** Starts `entry` and resolves once it is ready; a process that does not get ready is stopped. */
export async function startService(options: {
  name: string;
  entry: string;
  env: Record<string, string>;
  port: number;
  logDir: string;
  cpuProfileDir?: string | undefined;
  readyTimeoutMs?: number;
  /** Arguments after the entry file. */
  args?: string[];
  /** Answers 200 once the process is ready. @defaultValue '/readyz' */
  readyPath?: string;
}): Promise<ServiceProcess> {
  const logFile = path.join(options.logDir, `${options.name}.log`);
  const fd = openSync(logFile, 'a');
  const execArgv = options.cpuProfileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`, `--cpu-prof-name=${options.name}.cpuprofile`]
    : [];
  const child = spawn(process.execPath, [...execArgv, path.join(repoRoot, options.entry), ...(options.args ?? [])], {
    cwd: repoRoot,
    // Production requires the key of the webhook secrets: a fresh one per process started.
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      WEBHOOK_SECRET_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      // As `pnpm start` and the Docker image start them; `--api-env` / `--worker-env` override them.
      ...processRuntimeEnv,
      ...options.env,
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const url = `http://127.0.0.1:${options.port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const service: ServiceProcess = {
    name: options.name,
    child,
    pid: child.pid!,
    url,
    logFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(force);
    },
  };
  try {
    await waitReady(url, options.readyPath ?? '/readyz', child, logFile, options.readyTimeoutMs ?? 120_000);
  } catch (error) {
    await service.stop();
    throw error;
  }
  return service;
}

/** A fresh folder for the log files of one run's processes. */
export function benchLogDir(): string {
  const logDir = path.join(
    tmpdir(),
    `inferq-bench-logs-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
  );
  mkdirSync(logDir, { recursive: true });
  return logDir;
}
