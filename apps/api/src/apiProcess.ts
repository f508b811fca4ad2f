import type { AddressInfo } from 'node:net';
import { AdmissionShares, RateLimits } from '@inferq/admission';
import type { Logger } from 'pino';
import {
  AccountChanges,
  AccountStore,
  clearSecretsWarning,
  PrincipalCache,
  resolveTiers,
  SecretBox,
} from '@inferq/accounts';
import { closeInOrder, type ShutdownStep } from '@inferq/core/shutdown';
import { watchEventLoopLoad } from '@inferq/core/eventLoopLoad';
import { createDatabase, JobQueries, JobStats } from '@inferq/db';
import { JobWaiter, OperatorService, RecentJobs, registryCatalog } from '@inferq/jobs';
import { ModelRegistry } from '@inferq/models';
import {
  createRedisConnection,
  InferenceQueue,
  JobEventLog,
  JobEventSubscriber,
  PixelStore,
  WorkerRegistry,
} from '@inferq/queue';
import { blobStoreSettingsFromEnv, createBlobStore } from '@inferq/storage';
import { createTracing } from '@inferq/tracing';
import { createApp } from './app.ts';
import type { ApiEnv } from './env.ts';
import { isDashboardBuilt } from './http/dashboardStatic.ts';
import { LiveEvents } from './liveEvents.ts';
import { HttpServer } from './server.ts';
import { buildApiServices, type ApiServices } from './services.ts';

/**
 * Past this share of the last 100 ms busy, the API's event loop hands the file blob store's
 * writes to its writer thread. Blocking calls cost less CPU in all (a 130 kB input's write 77 µs
 * against 213 on the writer thread and 197 through the pool: `pnpm bench blobstore`), which pays
 * while the loop has time to spare (`pnpm bench e2e`: the loop 40–75% busy, 8% more jobs/s than
 * through the pool). A loop busy with a flood of submits (85–95%) is the API's bottleneck: there a
 * write costs it 26 µs on the writer thread (one message there and back), against 76 µs through
 * the pool (a trip a step) and the whole write blocking.
 */
const blockingLoopUtilization = 0.8;

/** The API process's pieces, built from its settings; `start()` subscribes and listens. */
export interface ApiProcess {
  services: ApiServices;
  server: HttpServer;
  /** Starts the subscriptions (not awaited: they come when Redis and Postgres do), then listens. */
  start(): Promise<AddressInfo>;
  /** How the process stops, in order: streams and waits answered, the server drained, then the connections closed. */
  closers: ShutdownStep[];
  /** Runs `closers` (a test's or a caller's stop; the process stops through handleShutdown). */
  close(): Promise<void>;
}

/**
 * Builds every piece of the API process from its settings (parsed once in index.ts): the
 * connections and stores, then the services ({@link buildApiServices}, which tests call with
 * their own parts), the app and the server. Starts nothing.
 */
export function buildApiProcess(env: ApiEnv, logger: Logger): ApiProcess {
  const db = createDatabase({ url: env.DATABASE_URL });
  const redis = createRedisConnection({ url: env.REDIS_URL, role: 'producer', connectionName: 'inferq-api' });
  redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
  // BullMQ's queues (inference, webhooks) on a connection of their own: the scripts BullMQ defines
  // on its connection make every pipeline there ten times dearer (see InferenceQueueOptions).
  const queueConnection = createRedisConnection({
    url: env.REDIS_URL,
    role: 'producer',
    connectionName: 'inferq-api-queues',
  });
  queueConnection.on('error', (error) => logger.warn({ err: error }, 'redis queue connection error'));
  const registry = new ModelRegistry({ root: env.MODELS_DIR });
  // One queue per model; the registry's models are the queues counted (global cap, depth, operators).
  const queue = new InferenceQueue({
    connection: redis,
    bullmqConnection: queueConnection,
    name: env.QUEUE_NAME,
    prefix: env.QUEUE_PREFIX,
    maxShadowBacklog: env.SHADOW_BACKLOG_MAX,
    models: async () => (await registry.list()).map((model) => model.name),
  });
  // Subscribed connections run no other command, so live events get a connection of their own;
  // a consumer connection, so the subscription survives Redis restarts.
  const eventsConnection = createRedisConnection({
    url: env.REDIS_URL,
    role: 'consumer',
    connectionName: 'inferq-api-events',
  });
  eventsConnection.on('error', (error) => logger.warn({ err: error }, 'redis events connection error'));
  const jobEvents = new JobEventSubscriber({ connection: eventsConnection, prefix: env.QUEUE_PREFIX });
  const queries = new JobQueries(db);
  // The jobs admitted here lately, kept current by the same subscription: a wait for one starts without a read.
  const recent = new RecentJobs({ subscriber: jobEvents });
  recent.start();
  // Requests waiting for a job share the one subscription too: a waiter costs a listener, not a connection.
  const waiter = new JobWaiter({ subscriber: jobEvents, read: (ids) => queries.getMany(ids), recent });
  // Built before the services: the live streams' snapshots come from it.
  const operator = new OperatorService({
    stats: new JobStats(db),
    queue,
    workers: new WorkerRegistry({ connection: redis, prefix: env.QUEUE_PREFIX }),
    queueCap: env.MAX_QUEUED_JOBS,
  });
  // Event streams read the event log (a Redis stream), whose events have ids a reconnecting client
  // resumes after; its tail blocks in XREAD, so it holds a connection of its own too (consumer: it
  // survives Redis restarts). The tail runs while a stream is open (each opening starts it).
  // Waiters and webhooks keep the pub/sub channel, which needs no ids.
  const eventLogConnection = createRedisConnection({
    url: env.REDIS_URL,
    role: 'consumer',
    connectionName: 'inferq-api-event-log',
  });
  eventLogConnection.on('error', (error) => logger.warn({ err: error }, 'redis event log connection error'));
  const eventLog = new JobEventLog({ blocking: eventLogConnection, reads: redis, prefix: env.QUEUE_PREFIX });
  const liveEvents = new LiveEvents({
    subscriber: eventLog,
    history: eventLog,
    snapshot: () => operator.snapshot(),
    maxStreams: env.MAX_EVENT_STREAMS,
    maxStreamsPerUser: env.MAX_EVENT_STREAMS_PER_USER,
    onSnapshotError: (error) => logger.debug({ err: error }, 'queue snapshot for live streams failed'),
  });
  if (!isDashboardBuilt(env.DASHBOARD_DIR)) {
    logger.warn(
      { dir: env.DASHBOARD_DIR },
      'dashboard not built; /dashboard explains how (pnpm --filter @inferq/dashboard build)',
    );
  }

  const tiers = resolveTiers(env.TIER_OVERRIDES);
  // Keys seen recently authenticate without a Postgres read while the change notifications are heard.
  const principals = env.AUTH_CACHE_TTL_MS > 0 ? new PrincipalCache({ ttlMs: env.AUTH_CACHE_TTL_MS }) : undefined;
  const accountChanges = principals
    ? new AccountChanges({
        url: env.DATABASE_URL,
        cache: principals,
        onError: (error) =>
          logger.warn(
            { err: error },
            'account change notifications lost; authenticating from Postgres until they are back',
          ),
      })
    : undefined;
  const secrets = new SecretBox(env.WEBHOOK_SECRET_KEYS);
  if (!secrets.encrypting) logger.warn(clearSecretsWarning);
  const accounts = new AccountStore(db, { tiers: Object.keys(tiers), principals, secrets });
  // Rate limits are one script call per request each, independent of each other: a connection of
  // their own, auto-pipelined, sends the calls of requests handled in one turn of the event loop in
  // one socket write.
  const limitsConnection = createRedisConnection({
    url: env.REDIS_URL,
    role: 'producer',
    connectionName: 'inferq-api-limits',
    autoPipelining: true,
  });
  limitsConnection.on('error', (error) => logger.warn({ err: error }, 'redis rate-limit connection error'));
  // Keys under the queue prefix: every API instance of one deployment shares the same counters.
  const rateLimits = new RateLimits({
    redis: limitsConnection,
    tiers,
    keyPrefix: `${env.QUEUE_PREFIX}:rl`,
    authFailures: { points: env.AUTH_FAILURES_PER_MINUTE, durationSeconds: 60 },
    publicRequests: { points: env.PUBLIC_REQUESTS_PER_MINUTE, durationSeconds: 60 },
  });

  // Off (a shared no-op) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const tracing = createTracing({ serviceName: 'inferq-api', otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  const blobSettings = blobStoreSettingsFromEnv(env);
  // A file store's small blobs are written with blocking calls while the event loop has time to
  // spare; a loop busy with a flood hands each write to the store's writer thread
  // (blockingLoopUtilization).
  const loopLoad = blobSettings?.url.startsWith('file:') ? watchEventLoopLoad() : undefined;
  const blobs = blobSettings
    ? createBlobStore({
        ...blobSettings,
        ...(loopLoad
          ? {
              fileMayBlock: () => loopLoad.utilization() < blockingLoopUtilization,
              fileWriterThread: true,
            }
          : {}),
      })
    : undefined;
  if (blobs) logger.info({ blobStore: blobs.location }, 'inputs are kept in the blob store');
  const services = buildApiServices({
    logger,
    tracing,
    db,
    queries,
    accounts,
    queue,
    models: registryCatalog(registry, { preparePixels: env.PREPARE_MODEL_PIXELS }),
    pixels: new PixelStore({
      connection: redis,
      prefix: env.QUEUE_PREFIX,
      budgetBytes: env.PIXEL_HANDOFF_MAX_BYTES,
      ttlMs: env.PIXEL_HANDOFF_TTL_MS,
    }),
    pixelHandoff: env.PIXEL_HANDOFF,
    registry,
    modelDownload: {
      policy: { allowHosts: env.MODEL_FETCH_ALLOW_HOSTS },
      deadlineMs: env.MODEL_FETCH_DEADLINE_MS,
      maxBytes: env.MAX_MODEL_BYTES,
    },
    defaultModel: env.DEFAULT_MODEL,
    imageLimits: {
      maxBytes: env.MAX_UPLOAD_BYTES,
      maxPixels: env.MAX_IMAGE_PIXELS,
      maxPixelsByFormat: { avif: env.MAX_AVIF_PIXELS },
      minWidth: env.MIN_IMAGE_SIDE,
      minHeight: env.MIN_IMAGE_SIDE,
      maxWidth: env.MAX_IMAGE_SIDE,
      maxHeight: env.MAX_IMAGE_SIDE,
    },
    keepImageMetadata: env.KEEP_IMAGE_METADATA,
    tiers,
    rateLimits,
    maxQueuedJobs: env.MAX_QUEUED_JOBS,
    shares: new AdmissionShares({
      submits: env.MAX_CONCURRENT_SUBMITS,
      enteringPerUser: env.MAX_ENTERING_SUBMITS_PER_USER,
      uploadBytes: env.MAX_UPLOAD_MEMORY_BYTES,
      decodePixels: env.MAX_DECODE_PIXELS,
      maxWaitMs: env.ADMISSION_MAX_WAIT_MS,
      queueLengthLimit: env.ADMISSION_QUEUE_LENGTH,
    }),
    operator,
    liveEvents,
    waiter,
    recent,
    webhookPolicy: { allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK, allowPorts: env.WEBHOOK_ALLOW_PORTS },
    blobs,
    inputFetch: { policy: { allowHosts: env.INPUT_FETCH_ALLOW_HOSTS }, timeoutMs: env.INPUT_FETCH_TIMEOUT_MS },
    uploadTtlSeconds: env.UPLOAD_TTL_SECONDS,
    eventRetention: { retentionMs: env.EVENTS_RETENTION_MS, maxLength: env.EVENTS_MAX_LENGTH },
  });
  const app = createApp({
    logger,
    services,
    trustProxy: env.TRUST_PROXY,
    dashboardDir: env.DASHBOARD_DIR,
    metricsToken: env.METRICS_TOKEN,
  });
  const server = new HttpServer({
    app,
    logger,
    host: env.HOST,
    port: env.PORT,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
  });

  async function start(): Promise<AddressInfo> {
    // Not awaited: while Redis is down the subscription is made when it comes back; waits then end by timeout.
    jobEvents.start().catch((error: unknown) => logger.warn({ err: error }, 'job event subscription failed'));
    // Not awaited: until it listens (Postgres down at start) every request reads Postgres.
    void accountChanges?.start();
    if (env.DEV_ADMIN_KEY) {
      const email = 'dev-admin@inferq.local';
      const admin =
        (await accounts.findUser(email)) ??
        (await accounts.createUser({ email, name: 'Development admin', role: 'admin', tier: 'pro' }));
      await accounts.importKey(admin.id, env.DEV_ADMIN_KEY, 'development admin key');
      logger.warn({ email }, 'development admin key enabled (DEV_ADMIN_KEY); never set it in production');
    }
    return server.start();
  }

  const closers: ShutdownStep[] = [
    // Open event streams would hold the server open until the drain timeout.
    { name: 'live events', close: () => liveEvents.closeAll() },
    // Waiting requests answer now with their job as it is, instead of holding the drain.
    { name: 'waiter', close: () => (waiter.close(), recent.close()) },
    { name: 'server', close: () => server.stop() },
    {
      name: 'job events',
      close: async () => {
        await jobEvents.close();
        eventsConnection.disconnect();
      },
    },
    {
      name: 'event log',
      close: async () => {
        await eventLog.close();
        eventLogConnection.disconnect();
      },
    },
    // The spans of the last submits are sent before the process exits.
    { name: 'tracing', close: () => tracing.shutdown() },
    { name: 'queue', close: () => queue.close() },
    {
      name: 'redis',
      close: () => {
        redis.disconnect();
        queueConnection.disconnect();
        limitsConnection.disconnect();
      },
    },
    { name: 'account changes', close: () => accountChanges?.stop() },
    { name: 'postgres', close: () => db.$disconnect() },
    { name: 'blob store', close: () => (loopLoad?.stop(), blobs?.close()) },
  ];
  return { services, server, start, closers, close: () => closeInOrder(closers, 'close', logger) };
}
