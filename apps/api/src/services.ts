import type { Logger } from 'pino';
import { AdmissionShares, type RateLimits } from '@inferq/admission';
import { AccountService, tierOf, type AccountStore, type TierTable } from '@inferq/accounts';
import {
  JobAdmission,
  JobExecution,
  JobMaintenance,
  JobQueries,
  JobStats,
  ModelHistoryStore,
  pingDatabase,
  WebhookDeliveryStore,
  type Database,
} from '@inferq/db';
import type { ImageLimits } from '@inferq/images';
import {
  JobCommands,
  JobReads,
  JobSubmission,
  JobUploads,
  OperatorService,
  QueueOperations,
  ReplayOperations,
  type JobWaiter,
  type RecentJobs,
  type ModelCatalog,
} from '@inferq/jobs';
import { JobLifecycle } from '@inferq/lifecycle';
import { createApiMetrics, type ApiMetrics } from '@inferq/metrics';
import type { ModelRegistry } from '@inferq/models';
import {
  JobEventPublisher,
  type JobEventRetention,
  pingRedis,
  PixelStore,
  ServedModels,
  WebhookQueue,
  WorkerRegistry,
  workersByModel,
  type InferenceQueue,
} from '@inferq/queue';
import type { WebhookUrlPolicy } from '@inferq/webhooks';
import type { Tracing } from '@inferq/tracing';
import type { ReadinessCheck } from './health.ts';
import { principalOf } from './http/authenticate.ts';
import { SubmitSlots } from './http/submitSlots.ts';
import type { LiveEvents } from './liveEvents.ts';
import type { AdmissionSource } from './routes/adminAdmission.ts';
import { ModelService, type ModelDownloadOptions } from './modelService.ts';
import type { BlobStore } from '@inferq/storage';
import type { InputFetchOptions } from '@inferq/jobs';
import { RolloutService, TrafficRouting, VersionComparison } from '@inferq/rollout';

/** What the API is built from: connections, stores and settings (from env in index.ts, or a test's). */
export interface ApiParts {
  logger: Logger;
  db: Database;
  accounts: AccountStore;
  queue: InferenceQueue;
  models: ModelCatalog;
  defaultModel: string;
  imageLimits: ImageLimits;
  /** Store uploads with their private metadata (EXIF GPS, Artist, XMP…) as sent. @defaultValue false: cut out, orientation kept */
  keepImageMetadata?: boolean | undefined;
  /** The account tiers (limits, priority, retention); see @inferq/accounts tiers.ts. */
  tiers: TierTable;
  /** Per-user rate limits and the per-address limit on failed authentication. */
  rateLimits: RateLimits;
  /** Queued + running jobs across all users above which submissions get 503 QUEUE_FULL. @defaultValue defaultMaxQueuedJobs (10000) */
  maxQueuedJobs?: number | undefined;
  /** Submissions this process validates and stores at once; more get 503 SERVER_BUSY. @defaultValue defaultMaxConcurrentSubmits (32) */
  maxConcurrentSubmits?: number | undefined;
  /**
   * The process's submit slots, upload memory and decoding, each a fair queue between users.
   * @defaultValue AdmissionShares with `maxConcurrentSubmits` slots and the other defaults
   */
  shares?: AdmissionShares | undefined;
  /**
   * Where submits hand the model pixels of their validating decode to the worker.
   * @defaultValue a PixelStore on the queue's connection, with its default TTL and budget
   */
  pixels?: PixelStore | undefined;
  /** Which pixels are handed over (PIXEL_HANDOFF). @defaultValue 'worthwhile' */
  pixelHandoff?: 'worthwhile' | 'always' | undefined;
  /** Job reads. @defaultValue a JobQueries on `db` */
  queries?: JobQueries;
  /** Spans of each submit, exported by OTLP when configured. @defaultValue disabledTracing (off) */
  tracing?: Tracing | undefined;
  /** Prometheus metrics served on /metrics. @defaultValue a new set with the queue-depth gauge on `queue` */
  metrics?: ApiMetrics;
  /** Operators' queries. @defaultValue built from the parts above */
  operator?: OperatorService;
  /** The live-event hub behind GET /v1/events. @defaultValue none: that route answers 503 */
  liveEvents?: LiveEvents | undefined;
  /** Holds `?wait=` / `Prefer: wait=` requests until their job is final. @defaultValue none: they answer at once */
  waiter?: JobWaiter | undefined;
  /** The jobs this process admitted lately (the waiter's too): told of each admission and deletion. @defaultValue none */
  recent?: RecentJobs | undefined;
  /** Which webhook URLs submissions may carry. @defaultValue https to public addresses only */
  webhookPolicy?: WebhookUrlPolicy | undefined;
  /** How long and how many job events are kept for resuming streams. @defaultValue 10 min, 100000 events */
  eventRetention?: JobEventRetention | undefined;
  /** The webhook dispatcher's queue, for operators' redeliveries. @defaultValue a WebhookQueue on the queue's connection and prefix */
  webhooks?: WebhookQueue | undefined;
  /**
   * The model registry behind GET /v1/models, the public model files and the admin model
   * routes. @defaultValue none: those routes answer 404
   */
  registry?: ModelRegistry | undefined;
  /**
   * How POST /v1/admin/models/:name/versions downloads a model: which hosts (public https only
   * unless `policy.allowHosts` names an internal store), how many bytes, how long.
   * @defaultValue public https hosts only, 512 MiB, 5 minutes
   */
  modelDownload?: ModelDownloadOptions | undefined;
  /**
   * Where inputs and uploads are kept outside Postgres (BLOB_STORE_URL).
   * @defaultValue none: inputs stay in Postgres and POST /v1/uploads answers 503
   */
  blobs?: BlobStore | undefined;
  /** How `imageUrl` inputs are fetched (INPUT_FETCH_ALLOW_HOSTS, INPUT_FETCH_TIMEOUT_MS). @defaultValue https to public addresses only, 10 s */
  inputFetch?: InputFetchOptions | undefined;
  /** How long an upload may wait for its PUT and its submit (UPLOAD_TTL_SECONDS). @defaultValue 900 */
  uploadTtlSeconds?: number | undefined;
}

/** The services the routers call; createApp mounts them and builds nothing. */
export interface ApiServices {
  /** A job's life as the API drives it, one service per part; each route calls the one it needs. */
  jobs: JobServices;
  /** Job reads the operators' user views need (jobs in flight per user). */
  queries: JobQueries;
  accounts: AccountStore;
  account: AccountService;
  operator: OperatorService;
  /** The operators' bulk actions: pause and resume, retry all failed, clean. */
  queueOperations: QueueOperations;
  /** The operators' replays: retry by selection, webhook redelivery. */
  replay: ReplayOperations;
  models: ModelService | undefined;
  /** Traffic splits, comparisons and rollbacks of the registry's models; undefined without a registry. */
  rollout: RolloutService | undefined;
  live: LiveEvents | undefined;
  rateLimits: RateLimits;
  tiers: TierTable;
  submitSlots: SubmitSlots;
  /** The fair queues of this process's submit slots, upload memory and decoding. */
  shares: AdmissionShares;
  /** Every fair-queued resource of this process now, the streams included: the admin view and /metrics read it. */
  admission: AdmissionSource;
  metrics: ApiMetrics;
  readiness: ReadinessCheck[];
  /** Largest upload read from a request, in bytes. */
  maxFileBytes: number;
}

/**
 * The job services, apart rather than behind one facade: a route names what it does to a job
 * (submit, read, change), and each service gets only the stores and queues its part needs.
 */
export interface JobServices {
  /** Every submit kind: images, tensors, batches; admission to the queue. */
  submission: JobSubmission;
  /** Get, list, search, wait, queue positions and ETA, inputs and thumbnails. */
  reads: JobReads;
  /** Cancel, delete, retry. */
  commands: JobCommands;
  /** POST /v1/uploads and the PUT that follows it. */
  uploads: JobUploads;
}

/** Builds the API's services from its parts; starts nothing. */
export function buildApiServices(parts: ApiParts): ApiServices {
  const { db, queue } = parts;
  const prefix = queue.prefix;
  const queries = parts.queries ?? new JobQueries(db);
  const stats = new JobStats(db);
  const workers = new WorkerRegistry({ connection: queue.connection, prefix });
  const shares = parts.shares ?? new AdmissionShares({ submits: parts.maxConcurrentSubmits });
  const admission: AdmissionSource = () => ({ ...shares.snapshot(), streams: parts.liveEvents?.snapshot() });
  const maintenance = new JobMaintenance(db);
  const served = new ServedModels({ registry: workers, queue: queue.name });
  // Jobs that name no version follow their model's traffic split, to versions some worker has warm.
  const routing = parts.registry ? new TrafficRouting({ registry: parts.registry, workers }) : undefined;
  const history = new ModelHistoryStore(db);
  const webhooks = parts.webhooks ?? new WebhookQueue({ connection: queue.bullmqConnection, prefix });
  const readiness: ReadinessCheck[] = [
    { name: 'postgres', check: () => pingDatabase(db) },
    {
      name: 'redis',
      check: async () =>
        (await pingRedis(queue.connection)) &&
        (queue.bullmqConnection === queue.connection || (await pingRedis(queue.bullmqConnection))),
    },
  ];
  const deliveries = new WebhookDeliveryStore(db);
  const events = new JobEventPublisher({ connection: queue.connection, prefix, ...parts.eventRetention });
  // The API's status transitions (queued at submit, canceled, an operator's retry), each written and announced in one place.
  const lifecycle = new JobLifecycle({ execution: new JobExecution(db), events });
  const pixels = parts.pixels ?? new PixelStore({ connection: queue.connection, prefix });
  const uploads = new JobUploads({
    blobs: parts.blobs,
    imageLimits: parts.imageLimits,
    tiers: parts.tiers,
    uploadTtlSeconds: parts.uploadTtlSeconds,
  });
  const jobs: JobServices = {
    submission: new JobSubmission({
      admission: new JobAdmission(db),
      queue,
      models: parts.models,
      routing,
      defaultModel: parts.defaultModel,
      imageLimits: parts.imageLimits,
      keepImageMetadata: parts.keepImageMetadata,
      tiers: parts.tiers,
      maxQueuedJobs: parts.maxQueuedJobs,
      webhookPolicy: parts.webhookPolicy,
      lifecycle,
      decodePixels: shares.decodePixels,
      pixels,
      pixelHandoff: parts.pixelHandoff,
      tracing: parts.tracing,
      blobs: parts.blobs,
      inputFetch: parts.inputFetch,
      uploads,
      recent: parts.recent,
    }),
    reads: new JobReads({
      queries,
      queue,
      waiter: parts.waiter,
      deliveries,
      // A job view costs at most one heartbeat read a second, shared by every request.
      servedModels: servedModelsOf(served),
      // Throughput and load times for queued jobs' ETA: the same heartbeats, plus one hash read, at most once a second.
      capacity: () => served.capacity(),
      decodePixels: shares.decodePixels,
      tiers: parts.tiers,
      blobs: parts.blobs,
    }),
    commands: new JobCommands({
      lifecycle,
      queries,
      maintenance,
      queue,
      pixels,
      blobs: parts.blobs,
      recent: parts.recent,
    }),
    uploads,
  };
  return {
    jobs,
    queries,
    accounts: parts.accounts,
    account: new AccountService({
      stats,
      tiers: parts.tiers,
      accounts: parts.accounts,
      eraseJobs: (userId) => jobs.commands.deleteAllOf(userId),
    }),
    operator:
      parts.operator ?? new OperatorService({ stats, queue, workers, queueCap: jobs.submission.queueCap, history }),
    // One queue today; with a queue per model, every one of them.
    queueOperations: new QueueOperations({
      maintenance,
      blobs: parts.blobs,
      queues: () => [queue],
      retry: (id) => jobs.commands.retry(id),
    }),
    replay: new ReplayOperations({
      queries,
      deliveries,
      webhooks,
      retry: (id) => jobs.commands.retry(id),
    }),
    models: parts.registry
      ? new ModelService({ registry: parts.registry, download: parts.modelDownload, workers })
      : undefined,
    rollout: parts.registry
      ? new RolloutService({ registry: parts.registry, comparison: new VersionComparison(db), db, workers })
      : undefined,
    live: parts.liveEvents,
    rateLimits: parts.rateLimits,
    tiers: parts.tiers,
    submitSlots: new SubmitSlots(shares.submits, {
      entry: shares.entry,
      weightOf: (req) => tierOf(principalOf(req).tier, parts.tiers).shareWeight,
    }),
    shares,
    admission,
    metrics:
      parts.metrics ??
      createApiMetrics({
        queueCounts: () => queue.countsByModel(),
        admission,
        operator: {
          oldestQueued: () => history.oldestQueued(),
          workersByModel: async () => workersByModel(await workers.list(), queue.name),
          webhookCounts: () => webhooks.queue.getJobCounts('waiting', 'delayed', 'active', 'failed', 'prioritized'),
          dependencies: async () => {
            const [postgres, redis] = await Promise.all(
              readiness.map((check) => check.check().then(Boolean, () => false)),
            );
            return { postgres: postgres!, redis: redis! };
          },
        },
      }),
    readiness,
    maxFileBytes: parts.imageLimits.maxBytes,
  };
}

function servedModelsOf(served: ServedModels): () => Promise<ReadonlySet<string> | undefined> {
  return () => served.current();
}
