// The platform as it runs in production, for benchmarks: one API process and W worker
// processes, their logs in files (not parsed by the benchmark, which shares the same cores),
// readiness taken from /readyz on ports chosen up front.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, repoRoot } from '@inferq/testing';
import type { BenchServices } from './services.ts';

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  url: string;
  logFile: string;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  services: BenchServices;
  modelsDir: string;
  defaultModel: string;
  workers: number;
  queueName: string;
  /** Extra environment for the API. */
  api?: Record<string, string>;
  /** Extra environment for every worker. */
  worker?: Record<string, string>;
  /** Extra environment for worker i (after `worker`), e.g. a different WORKER_MODELS per pool. */
  workerEach?: Array<Record<string, string>>;
  /** Write a V8 CPU profile of each process (node --cpu-prof) into this folder on exit. */
  cpuProfileDir?: string;
}

export interface Platform {
  api: ServiceProcess;
  workers: ServiceProcess[];
  logDir: string;
  stop(): Promise<void>;
}

/** `KEY=VALUE,KEY=VALUE` (a --worker-env or --api-env flag) as an environment object. */
export function envFlag(text: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of (text ?? '').split(',').filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`expected KEY=VALUE, got ${pair}`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

/**
 * The runtime settings the Docker image gives every process (see the Dockerfile); `--api-env` /
 * `--worker-env` override them.
 */
export const deploymentEnv: Record<string, string> = { NODE_OPTIONS: '--max-semi-space-size=16', MALLOC_ARENA_MAX: '2' };

/** Limits lifted so that load runs measure the platform, not the tiers' rate limits and quotas. */
export const benchTierOverrides = JSON.stringify({
  pro: { submitsPerWindow: 10_000_000, submitBurst: 0, requestsPerWindow: 10_000_000, maxJobsInFlight: 1_000_000 },
});

async function waitReady(url: string, readyPath: string, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
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
  const execArgv = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`, `--cpu-prof-name=${options.name}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...execArgv, path.join(repoRoot, options.entry), ...(options.args ?? [])], {
    cwd: repoRoot,
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'info', ...deploymentEnv, ...options.env },
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
  const logDir = path.join(tmpdir(), `inferq-bench-logs-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`);
  mkdirSync(logDir, { recursive: true });
  return logDir;
}

export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const { services } = options;
  const logDir = benchLogDir();
  if (options.cpuProfileDir) mkdirSync(options.cpuProfileDir, { recursive: true });
  const common = {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    QUEUE_PREFIX: services.queuePrefix,
    QUEUE_NAME: options.queueName,
    MODELS_DIR: options.modelsDir,
  };
  const apiPort = await freePort();
  const workerPorts = await Promise.all(Array.from({ length: options.workers }, () => freePort()));
  const started: ServiceProcess[] = [];
  let apiStarting: Promise<ServiceProcess> | undefined;
  try {
    // Workers load and warm their model one at a time, as they would on a host that boots them.
    const api = startService({
      name: 'api',
      entry: 'apps/api/src/index.ts',
      port: apiPort,
      logDir,
      cpuProfileDir: options.cpuProfileDir,
      env: {
        ...common,
        PORT: String(apiPort),
        HOST: '127.0.0.1',
        DEFAULT_MODEL: options.defaultModel,
        TIER_OVERRIDES: benchTierOverrides,
        MAX_QUEUED_JOBS: '1000000',
        ...options.api,
      },
    }).then((service) => (started.push(service), service));
    // A worker that fails to start must not leave the API running (see catch).
    api.catch(() => {});
    apiStarting = api;
    const workers: ServiceProcess[] = [];
    for (const [i, port] of workerPorts.entries()) {
      const worker = await startService({
        name: `worker-${i + 1}`,
        entry: 'apps/worker/src/index.ts',
        port,
        logDir,
        cpuProfileDir: options.cpuProfileDir,
        env: { ...common, WORKER_PORT: String(port), WORKER_HOST: '127.0.0.1', WORKER_ID: `bench-${i + 1}`, TF_BACKEND: 'wasm', ...options.worker, ...options.workerEach?.[i] },
      });
      started.push(worker);
      workers.push(worker);
    }
    const apiProcess = await api;
    return {
      api: apiProcess,
      workers,
      logDir,
      async stop() {
        await Promise.all(started.map((service) => service.stop()));
      },
    };
  } catch (error) {
    await apiStarting?.catch(() => {});
    await Promise.all(started.map((service) => service.stop()));
    throw error;
  }
}
