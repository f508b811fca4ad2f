// One measured load run against a started platform: N closed-loop clients, each submits an image
// and waits for its result (GET ?wait=), with latencies and the CPU time each process spent.
import { randomUUID } from 'node:crypto';
import { AccountStore, tierNames } from '@inferq/accounts';
import { createDatabase } from '@inferq/db';
import type { TestUser } from '@inferq/testing';
import { closedLoop, HttpClient, isFinal, waitForJob, type JobAnswer, type MultipartBody } from './loadClient.ts';
import { CpuMeter, withDescendants } from './procStat.ts';
import type { BenchServices } from './services.ts';
import type { Platform } from './platform.ts';
import { summarize } from './stats.ts';

export interface CpuPerJob {
  api: number;
  workers: number;
  postgres: number;
  redis: number;
  /** The load generator itself (this process), for reference: it shares the same cores. */
  client: number;
  total: number;
}

export interface LoadRunResult {
  clients: number;
  succeeded: number;
  failed: number;
  /** Submits refused (non-202), by status. */
  refused: Record<string, number>;
  wallMs: number;
  jobsPerSecond: number;
  submitMs: ReturnType<typeof summarize>;
  queueWaitMs: ReturnType<typeof summarize>;
  inferenceMs: ReturnType<typeof summarize>;
  endToEndMs: ReturnType<typeof summarize>;
  /** CPU milliseconds per succeeded job, per process group. */
  cpuMsPerJob: CpuPerJob;
  /** CPU cores busy on average during the run, per process group. */
  coresBusy: CpuPerJob;
  /** Read and write system calls per job of the API and the workers, from /proc/PID/io. */
  syscallsPerJob: { apiReads: number; apiWrites: number; workerReads: number; workerWrites: number };
  /** Redis commands per job, those run inside Lua scripts included (the whole Redis: a private one is ours alone). */
  redisCommandsPerJob: number;
  /** Postgres transactions per job in the bench's database; a statement outside a transaction is one. */
  postgresTransactionsPerJob: number;
}

/**
 * `count` users on the `pro` tier (or `tier`), whose limits the benchmark platform lifts (benchTierOverrides).
 * Clients are spread over them: one user's admissions are serialized (a per-user lock guards the
 * in-flight quota), so a single user measures that lock rather than the platform. `role: 'admin'`
 * makes operators (the admin routes, the dashboard's Operations page).
 */
export async function benchUsers(
  services: BenchServices,
  count: number,
  tier: 'pro' | 'free' = 'pro',
  role: 'user' | 'admin' = 'user',
): Promise<TestUser[]> {
  const db = createDatabase({ url: services.databaseUrl, poolSize: 2 });
  try {
    const accounts = new AccountStore(db, { tiers: tierNames });
    const users: TestUser[] = [];
    for (let i = 0; i < count; i++) {
      const user = await accounts.createUser({ email: `bench-${randomUUID()}@bench.inferq`, tier, role });
      const issued = await accounts.issueKey(user.id, 'bench');
      users.push({
        userId: user.id,
        email: user.email,
        key: issued.key,
        keyId: issued.id,
        headers: { authorization: `Bearer ${issued.key}` },
      });
    }
    return users;
  } finally {
    await db.$disconnect();
  }
}

export interface LoadRunOptions {
  services: BenchServices;
  platform: Platform;
  /** Client i acts as users[i % users.length]. */
  users: TestUser[];
  /** The body each submit sends; several are sent in turn (one per submit, round robin). */
  upload: MultipartBody | MultipartBody[];
  clients: number;
  jobs?: number;
  durationMs?: number;
  /** Jobs run first and not counted (connections, JIT, first batches). @defaultValue 2 × clients */
  warmupJobs?: number;
  /** Instead of warmupJobs: run the load this long first, uncounted. */
  warmupMs?: number;
  /**
   * Submit `upload` (a body of `batchSize` images) to POST /v1/jobs/batch with `Prefer: wait`
   * instead of single submits followed by a wait; every job of the batch counts. @defaultValue 0: single submits
   */
  batchSize?: number;
  /**
   * Single submits ask for the result in the submit itself (`Prefer: wait=20`, as the typed
   * client's `run` does), polling only when it is not final in time. @defaultValue false: submit, then GET ?wait=
   */
  preferWait?: boolean;
}

interface BatchAnswer {
  data: Array<{ status: number; job: JobAnswer | null; error: { code: string } | null }>;
}

/** Runs the closed loop; the HTTP client pool is made here and closed at the end. */
export async function runClosedLoad(options: LoadRunOptions): Promise<LoadRunResult> {
  const { services, platform, clients } = options;
  const uploads = Array.isArray(options.upload) ? options.upload : [options.upload];
  let sent = 0;
  const nextUpload = () => uploads[sent++ % uploads.length]!;
  const http = new HttpClient(platform.api.url, { connections: clients * 2 });
  try {
    const submit: number[] = [];
    const endToEnd: number[] = [];
    const queueWait: number[] = [];
    const inference: number[] = [];
    const refused: Record<string, number> = {};
    let failed = 0;
    let counting = false;
    const batchTask = async (client: number) => {
      const headers = options.users[client % options.users.length]!.headers;
      const started = performance.now();
      const answer = await http.request<BatchAnswer>('POST', '/v1/jobs/batch', {
        body: nextUpload(),
        headers: { ...headers, prefer: 'wait=20' },
      });
      if (answer.status !== 200 && answer.status !== 202) {
        refused[answer.status] = (refused[answer.status] ?? 0) + 1;
        if (answer.status >= 500 || answer.status === 429) await new Promise((resolve) => setTimeout(resolve, 100));
        else throw new Error(`batch submit answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
        return;
      }
      for (const item of answer.body.data) {
        if (!item.job) {
          refused[item.status] = (refused[item.status] ?? 0) + 1;
          continue;
        }
        const job = isFinal(item.job.status) ? item.job : await waitForJob(http, item.job.id, { headers });
        if (!counting) continue;
        if (job.status !== 'succeeded') {
          failed++;
          continue;
        }
        submit.push(answer.ms);
        endToEnd.push(performance.now() - started);
        if (job.timings.queueWaitMs !== null) queueWait.push(job.timings.queueWaitMs);
        if (job.timings.inferenceMs !== null) inference.push(job.timings.inferenceMs);
      }
    };
    const singleTask = async (client: number) => {
      const headers = options.users[client % options.users.length]!.headers;
      const started = performance.now();
      const answer = await http.request<JobAnswer>('POST', '/v1/jobs', {
        body: nextUpload(),
        headers: options.preferWait ? { ...headers, prefer: 'wait=20' } : headers,
      });
      if (answer.status !== 202 && !(options.preferWait && answer.status === 200)) {
        refused[answer.status] = (refused[answer.status] ?? 0) + 1;
        // Refusals are counted (during the warm-up too, then reset) and the client backs off a little.
        if (answer.status >= 500 || answer.status === 429) await new Promise((resolve) => setTimeout(resolve, 100));
        if (answer.status < 500 && answer.status !== 429)
          throw new Error(`submit answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
        return;
      }
      const job = isFinal(answer.body.status) ? answer.body : await waitForJob(http, answer.body.id, { headers });
      if (!counting) return;
      if (job.status !== 'succeeded') {
        failed++;
        return;
      }
      submit.push(answer.ms);
      endToEnd.push(performance.now() - started);
      if (job.timings.queueWaitMs !== null) queueWait.push(job.timings.queueWaitMs);
      if (job.timings.inferenceMs !== null) inference.push(job.timings.inferenceMs);
    };
    const task = options.batchSize ? batchTask : singleTask;
    await closedLoop(
      options.warmupMs === undefined
        ? { clients, jobs: options.warmupJobs ?? clients * 2, task }
        : { clients, durationMs: options.warmupMs, task },
    );

    counting = true;
    for (const status of Object.keys(refused)) delete refused[status];
    const meter = new CpuMeter();
    const pids = {
      api: [platform.api.pid],
      workers: platform.workers.flatMap((worker) => withDescendants(worker.pid)),
    };
    // Postgres backends report their transaction counts at most once a second: wait for the warm-up's.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const transactionsBefore = await services.postgresTransactions();
    const pgBefore = await services.postgresPids();
    meter.start([...pids.api, ...pids.workers, ...pgBefore]);
    const redisBefore = await services.redisCpuMs();
    const redisCommandsBefore = await services.redisCommands();
    const clientBefore = process.cpuUsage();
    const wallMs = await closedLoop({ clients, jobs: options.jobs, durationMs: options.durationMs, task });
    const clientUsage = process.cpuUsage(clientBefore);
    const redisMs = (await services.redisCpuMs()) - redisBefore;
    const redisCommands = (await services.redisCommands()) - redisCommandsBefore;
    const pgAfter = await services.postgresPids();
    const apiCalls = meter.syscallsSince(pids.api);
    const workerCalls = meter.syscallsSince(pids.workers);
    const cpu = {
      api: meter.since(pids.api),
      workers: meter.since(pids.workers),
      postgres: meter.since([...new Set([...pgBefore, ...pgAfter])]),
      redis: redisMs,
      client: (clientUsage.user + clientUsage.system) / 1000,
      total: 0,
    };
    cpu.total = cpu.api + cpu.workers + cpu.postgres + cpu.redis + cpu.client;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const transactions = (await services.postgresTransactions()) - transactionsBefore;
    const succeeded = endToEnd.length;
    const per = (value: number) => (succeeded > 0 ? value / succeeded : Number.NaN);
    const busy = (value: number) => value / wallMs;
    return {
      clients,
      succeeded,
      failed,
      refused,
      wallMs,
      jobsPerSecond: (succeeded * 1000) / wallMs,
      submitMs: summarize(submit),
      queueWaitMs: summarize(queueWait),
      inferenceMs: summarize(inference),
      endToEndMs: summarize(endToEnd),
      cpuMsPerJob: {
        api: per(cpu.api),
        workers: per(cpu.workers),
        postgres: per(cpu.postgres),
        redis: per(cpu.redis),
        client: per(cpu.client),
        total: per(cpu.total),
      },
      syscallsPerJob: {
        apiReads: per(apiCalls.reads),
        apiWrites: per(apiCalls.writes),
        workerReads: per(workerCalls.reads),
        workerWrites: per(workerCalls.writes),
      },
      redisCommandsPerJob: per(redisCommands),
      postgresTransactionsPerJob: per(transactions),
      coresBusy: {
        api: busy(cpu.api),
        workers: busy(cpu.workers),
        postgres: busy(cpu.postgres),
        redis: busy(cpu.redis),
        client: busy(cpu.client),
        total: busy(cpu.total),
      },
    };
  } finally {
    await http.close();
  }
}

/** A table row of the cores each process group kept busy. */
export function coresRow(run: LoadRunResult): Record<string, string> {
  const { api, workers, postgres, redis, client, total } = run.coresBusy;
  return {
    api: api.toFixed(2),
    workers: workers.toFixed(2),
    postgres: postgres.toFixed(2),
    redis: redis.toFixed(2),
    'load client': client.toFixed(2),
    total: total.toFixed(2),
  };
}

/** A table row of the read and write system calls per job of the API and the workers (sockets, mostly). */
export function syscallsRow(run: LoadRunResult): Record<string, string> {
  const { apiReads, apiWrites, workerReads, workerWrites } = run.syscallsPerJob;
  const n = (value: number) => value.toFixed(1);
  return {
    'api reads': n(apiReads),
    'api writes': n(apiWrites),
    'worker reads': n(workerReads),
    'worker writes': n(workerWrites),
    'redis commands': n(run.redisCommandsPerJob),
    'postgres transactions': n(run.postgresTransactionsPerJob),
  };
}

/** A table row of CPU milliseconds per job for each process group. */
export function cpuPerJobRow(run: LoadRunResult): Record<string, string> {
  const { api, workers, postgres, redis, client, total } = run.cpuMsPerJob;
  const ms = (value: number) => value.toFixed(2);
  return {
    api: ms(api),
    workers: ms(workers),
    postgres: ms(postgres),
    redis: ms(redis),
    'load client': ms(client),
    'total CPU ms/job': ms(total),
  };
}
