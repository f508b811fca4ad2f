// `pnpm start`: the whole platform on one machine. Postgres (DATABASE_URL, or an embedded one) and
// Redis (REDIS_URL, or redis-server from PATH), the database created and migrated, the models
// imported, the dashboard built when stale, then the API, a worker and the webhook dispatcher under
// one supervisor. Prints the addresses and an API key; Ctrl-C stops everything.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify, styleText } from 'node:util';
import { AccountStore, resolveTiers } from '@inferq/accounts';
import { localStackStateFileName } from '@inferq/core';
import { withProcessRuntimeEnv } from '@inferq/core/garbageCollection';
import { handleShutdown } from '@inferq/core/shutdown';
import { createDatabase } from '@inferq/db';
import { ensureDashboardBuilt } from './dashboardBuild.ts';
import { parseStackEnv } from './env.ts';
import { ensureLocalApiKey } from './localApiKey.ts';
import {
  ensureDatabase,
  findOnPath,
  pendingMigrations,
  postgresService,
  readState,
  redisInstallHint,
  redisService,
  writeState,
} from './localServers.ts';
import { firstBusyPort, type PortClaim } from './portCheck.ts';
import { Supervisor, type RunningService } from './supervisor.ts';
import { fileBlobStoreUrl } from '@inferq/storage';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const env = parseStackEnv(process.env);
const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const dataDir = path.resolve(repoRoot, env.INFERQ_DATA_DIR);
const modelsDir = path.resolve(repoRoot, env.MODELS_DIR);
const stateFile = path.join(dataDir, localStackStateFileName);

/** A path as the user can type it: relative when it lies under the current folder. */
function shown(target: string): string {
  const relative = path.relative(process.cwd(), target);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : target;
}

function say(message: string): void {
  process.stdout.write(
    `${color ? styleText('bold', 'inferq  ', { validateStream: false }) : 'inferq  '} | ${message}\n`,
  );
}

const supervisor = new Supervisor({
  write: (line) => process.stdout.write(`${line}\n`),
  format: { color, format: env.INFERQ_LOG_FORMAT },
  onUnexpectedExit: (service: RunningService, code, signal) => {
    say(`${service.spec.name} exited (${signal ?? `code ${code}`}); stopping everything`);
    void stack.shutdown('unexpected exit', 1);
  },
});

// The stack's own lines are for a person at a terminal: the message, and an error's when there is one.
const sayLogger = {
  info: (_: object, message?: string) => say(message ?? ''),
  warn: (fields: { err?: unknown }, message?: string) =>
    say(`${message ?? ''}${fields.err instanceof Error ? `: ${fields.err.message}` : ''}`),
  error: (_: object, message?: string) => say(message ?? ''),
};
const stack = handleShutdown({
  logger: sayLogger,
  steps: [{ name: 'services', close: () => supervisor.stop() }],
  startMessage: 'stopping',
  // A second Ctrl-C (a second or more after the first: one Ctrl-C reaches this process twice, from
  // the terminal and through pnpm): no more waiting.
  onForce: () => supervisor.kill(),
});

/** The ports this run will listen on itself (an external Postgres or Redis is not ours to check). */
function portClaims(): PortClaim[] {
  const claims: PortClaim[] = [{ port: env.PORT, host: env.HOST, what: 'the API', setting: 'PORT' }];
  if (!env.DATABASE_URL)
    claims.push({
      port: env.INFERQ_POSTGRES_PORT,
      host: '127.0.0.1',
      what: 'the embedded Postgres',
      setting: 'INFERQ_POSTGRES_PORT',
    });
  if (!env.REDIS_URL)
    claims.push({
      port: env.INFERQ_REDIS_PORT,
      host: '127.0.0.1',
      what: 'the local redis-server',
      setting: 'INFERQ_REDIS_PORT',
    });
  return claims;
}

/** What the shipped models are for: the default one surprises a user who expects a general classifier. */
const modelNotes = [
  '  Models       nsfw (the default): rates how explicit a photo is, as Drawing, Hentai, Neutral, Porn',
  '               or Sexy (a content-moderation filter, not a general "what is in the photo" classifier);',
  '               mnist: a handwritten digit (--model mnist)',
];

async function main(): Promise<void> {
  const busy = await firstBusyPort(portClaims());
  if (busy !== null) {
    // Nothing is started yet: one line, and out.
    say(`cannot start: ${busy}`);
    process.exit(1);
  }
  const state = readState(stateFile);
  writeState(stateFile, state);

  let databaseUrl = env.DATABASE_URL;
  let databaseNote = '';
  if (!databaseUrl) {
    const dir = path.join(dataDir, 'postgres');
    await supervisor.start(
      postgresService({
        entry: path.join(import.meta.dirname, 'embeddedPostgres.ts'),
        port: env.INFERQ_POSTGRES_PORT,
        dir,
        password: state.postgresPassword,
      }),
    );
    databaseUrl = `postgresql://postgres:${state.postgresPassword}@127.0.0.1:${env.INFERQ_POSTGRES_PORT}/inferq`;
    databaseNote = ` (embedded, data in ${shown(dir)})`;
  }
  if (await ensureDatabase(databaseUrl)) say(`created database ${new URL(databaseUrl).pathname.slice(1)}`);

  let redisUrl = env.REDIS_URL;
  let redisNote = '';
  if (!redisUrl) {
    const executable = findOnPath('redis-server');
    if (!executable) throw new Error(redisInstallHint);
    const dir = path.join(dataDir, 'redis');
    await supervisor.start(redisService({ executable, port: env.INFERQ_REDIS_PORT, dir }));
    redisUrl = `redis://127.0.0.1:${env.INFERQ_REDIS_PORT}`;
    redisNote = ` (local redis-server, data in ${shown(dir)})`;
  }

  const pending = await pendingMigrations(databaseUrl, path.join(repoRoot, 'prisma/migrations'));
  if (pending.length > 0) {
    say(`migrating the database (${pending.length} migration${pending.length === 1 ? '' : 's'})`);
    await run('bash', [path.join(repoRoot, 'scripts/prisma.sh'), 'migrate', 'deploy'], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: databaseUrl },
    });
  }

  for (const [model, script] of [
    ['nsfw', 'packages/inference/scripts/importNsfwModel.ts'],
    ['mnist', 'packages/training/scripts/importMnistModel.ts'],
  ] as const) {
    if (existsSync(path.join(modelsDir, model))) continue;
    say(`importing the ${model} model into ${shown(modelsDir)}`);
    await run(process.execPath, [path.join(repoRoot, script), '--out', modelsDir], { cwd: repoRoot });
  }

  if (env.INFERQ_DASHBOARD === 'build') {
    const dashboardRoot = path.join(repoRoot, 'apps/dashboard');
    const building = setTimeout(() => say('building the dashboard (vite build; once per change of its sources)'), 200);
    const built = await ensureDashboardBuilt(dashboardRoot);
    clearTimeout(building);
    if (built) say('dashboard built');
  }

  const db = createDatabase({ url: databaseUrl, poolSize: 1 });
  let apiKey;
  try {
    apiKey = await ensureLocalApiKey(
      new AccountStore(db, { tiers: Object.keys(resolveTiers(undefined)) }),
      state.apiKey,
    );
  } finally {
    await db.$disconnect();
  }
  // The database and registry too: `pnpm admin` beside this stack finds them here, unasked.
  writeState(stateFile, { ...state, apiKey: apiKey.key, databaseUrl, modelsDir });

  const common = {
    // The young generation and malloc arenas the Docker image sets too (processRuntimeEnv).
    ...withProcessRuntimeEnv(process.env),
    NODE_ENV: 'development',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: env.QUEUE_PREFIX,
    MODELS_DIR: modelsDir,
    // One folder for the API and every worker: inputs leave Postgres here as in a deployment.
    BLOB_STORE_URL: env.BLOB_STORE_URL ?? fileBlobStoreUrl(path.join(dataDir, 'blobs')),
    // Local development: webhooks may go to a receiver on this machine (http://127.0.0.1:…).
    WEBHOOK_ALLOW_LOOPBACK: 'true',
  };
  const node = (entry: string) => ({ command: process.execPath, args: [path.join(repoRoot, entry)], cwd: repoRoot });
  const workerPorts: number[] = [];
  // Engines this machine lacks (tfjs-node, CUDA, TensorRT) are tried and skipped with a WARN line
  // each: expected, and said so in the banner.
  const skippedEngines: string[] = [];
  const watchWorker = (line: string) => {
    if (!line.startsWith('{')) return;
    const entry = JSON.parse(line) as { msg?: string; port?: number; backend?: string; provider?: string };
    if (entry.msg === 'worker health endpoint listening' && typeof entry.port === 'number')
      workerPorts.push(entry.port);
    if (entry.msg?.endsWith('unavailable; trying the next one'))
      skippedEngines.push(entry.backend ?? entry.provider ?? '?');
  };
  const [api, worker] = await Promise.all([
    supervisor.start({
      name: 'api',
      color: 'green',
      ...node('apps/api/src/index.ts'),
      env: {
        ...common,
        PORT: String(env.PORT),
        HOST: env.HOST,
        DASHBOARD_DIR: path.join(repoRoot, 'apps/dashboard/dist'),
      },
      ready: (line) => line.includes('"msg":"api listening"'),
    }),
    supervisor.start({
      name: 'worker',
      color: 'magenta',
      ...node('apps/worker/src/index.ts'),
      // Its health port is picked by the system: a second stack on this machine must not clash on it.
      env: { ...common, WORKER_PORT: '0', WORKER_HOST: '127.0.0.1', WORKER_PROCESSES: String(env.WORKER_PROCESSES) },
      ready: (line) => line.includes('"msg":"worker taking jobs"'),
      onLine: (line) => {
        try {
          watchWorker(line);
        } catch {
          // Not a JSON log line.
        }
      },
      // Loads and warms up every model first.
      readyTimeoutMs: 300_000,
    }),
    supervisor.start({
      name: 'webhooks',
      color: 'cyan',
      ...node('apps/webhooks/src/index.ts'),
      env: common,
      ready: (line) => line.includes('"msg":"webhook dispatcher started"'),
    }),
  ]);
  const workerReady = JSON.parse(worker.readyLine ?? '{}') as {
    models?: Array<{ engine?: string }>;
    jpegDecoder?: string;
  };
  const engine = workerReady.models?.[0]?.engine;
  // The worker decodes JPEG with sharp: the system lacks libturbojpeg (or JPEG_DECODER=sharp).
  const jpegNote =
    workerReady.jpegDecoder === 'sharp'
      ? [
          '  JPEG         decoded by sharp: with libturbojpeg (`apt-get install libturbojpeg0`) the API and the',
          '               worker decode JPEG at less than half the CPU, with the same results (JPEG_DECODER).',
        ]
      : [];

  const port = (JSON.parse(api.readyLine ?? '{}') as { port?: number }).port ?? env.PORT;
  const host = env.HOST === '0.0.0.0' || env.HOST === '::' ? 'localhost' : env.HOST;
  const baseUrl = `http://${host}:${port}`;
  const bold = (text: string) => (color ? styleText('bold', text, { validateStream: false }) : text);
  const lines = [
    '',
    bold('InferQ is running.'),
    `  API          ${baseUrl}`,
    `  Dashboard    ${baseUrl}/dashboard`,
    `  API docs     ${baseUrl}/docs`,
    `  Postgres     ${databaseUrl}${databaseNote}`,
    `  Redis        ${redisUrl}${redisNote}, queue prefix ${env.QUEUE_PREFIX}`,
    `  Worker       http://127.0.0.1:${workerPorts[0] ?? '?'}/healthz and /metrics (a free port, chosen at start)${workerPorts.length > 1 ? `; ${workerPorts.length} worker processes (one per core), the others on ${workerPorts.slice(1).join(', ')}` : ''}`,
    `  API key      ${apiKey.key}`,
    `               (${apiKey.email}, administrator; ${apiKey.created ? 'new, ' : ''}saved in ${shown(stateFile)})`,
    ...modelNotes,
    ...jpegNote,
    ...(skippedEngines.length > 0
      ? [
          `  Warnings     the WARN lines about ${[...new Set(skippedEngines)].join(', ')} are expected: engines this machine`,
          `               lacks are tried and skipped; the worker runs on ${engine ?? 'the next one'}.`,
        ]
      : []),
    '',
    'Classify an image from another terminal (a new one: first put Node and pnpm on its PATH):',
    `  cd ${repoRoot} && source scripts/env.sh`,
    `  export INFERQ_BASE_URL=${baseUrl} INFERQ_API_KEY=${apiKey.key}`,
    '  pnpm inferq submit photo.jpg --wait',
    '',
    'Ctrl-C stops everything; the data stays for the next `pnpm start`.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch(async (error: unknown) => {
  const tail = (error as { tail?: string }).tail;
  say(`could not start: ${error instanceof Error ? error.message : String(error)}`);
  if (tail) say(`its last lines:\n${tail}`);
  await stack.shutdown('could not start', 1);
});
