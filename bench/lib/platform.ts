// The platform as it runs in production, for benchmarks: one API process and W worker
// processes, their logs in files (not parsed by the benchmark, which shares the same cores),
// readiness taken from /readyz on ports chosen up front (startService, @inferq/testing).
import { mkdirSync } from 'node:fs';
import { benchLogDir, freePort, startService, type ServiceProcess } from '@inferq/testing';
import type { BenchServices } from './services.ts';

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
  /** API processes, each on a port of its own, as replicas behind a load balancer. @defaultValue 1 */
  apis?: number;
}

export interface Platform {
  /** The first API process. */
  api: ServiceProcess;
  /** Every API process (`apis` of them). */
  apis: ServiceProcess[];
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

/** Limits lifted so that load runs measure the platform, not the tiers' rate limits and quotas. */
export const benchTierOverrides = JSON.stringify({
  pro: { submitsPerWindow: 10_000_000, submitBurst: 0, requestsPerWindow: 10_000_000, maxJobsInFlight: 1_000_000 },
});

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
    BLOB_STORE_URL: services.blobStoreUrl,
  };
  const apiPorts = await Promise.all(Array.from({ length: options.apis ?? 1 }, () => freePort()));
  const workerPorts = await Promise.all(Array.from({ length: options.workers }, () => freePort()));
  const started: ServiceProcess[] = [];
  let apiStarting: Promise<ServiceProcess[]> | undefined;
  try {
    // Workers load and warm their model one at a time, as they would on a host that boots them.
    const apis = Promise.all(
      apiPorts.map((apiPort, i) =>
        startService({
          name: i === 0 ? 'api' : `api-${i + 1}`,
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
        }).then((service) => (started.push(service), service)),
      ),
    );
    // A worker that fails to start must not leave the API running (see catch).
    apis.catch(() => {});
    apiStarting = apis;
    const workers: ServiceProcess[] = [];
    for (const [i, port] of workerPorts.entries()) {
      const worker = await startService({
        name: `worker-${i + 1}`,
        entry: 'apps/worker/src/index.ts',
        port,
        logDir,
        cpuProfileDir: options.cpuProfileDir,
        env: {
          ...common,
          WORKER_PORT: String(port),
          WORKER_HOST: '127.0.0.1',
          WORKER_ID: `bench-${i + 1}`,
          TF_BACKEND: 'wasm',
          ...options.worker,
          ...options.workerEach?.[i],
        },
      });
      started.push(worker);
      workers.push(worker);
    }
    const apiProcesses = await apis;
    return {
      api: apiProcesses[0]!,
      apis: apiProcesses,
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
