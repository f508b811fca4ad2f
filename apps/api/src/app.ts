import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { AccountStore, RateLimits, TierTable } from '@inferq/accounts';
import type { Database, JobStore } from '@inferq/db';
import { JobStats, pingDatabase, WebhookDeliveryStore } from '@inferq/db';
import type { ImageLimits } from '@inferq/images';
import { createApiMetrics, type ApiMetrics } from '@inferq/metrics';
import { JobEventPublisher, pingRedis, WorkerRegistry, type InferenceQueue } from '@inferq/queue';
import type { ModelRegistry } from '@inferq/models';
import { AccountService } from './accountService.ts';
import { dashboardStatic } from './http/dashboardStatic.ts';
import { authenticate } from './http/authenticate.ts';
import { rateLimit } from './http/rateLimit.ts';
import { SubmitSlots } from './http/submitSlots.ts';
import { errorHandler, notFoundHandler } from './http/errorHandler.ts';
import { httpMetrics } from './http/httpMetrics.ts';
import { redactUrl } from './http/redactUrl.ts';
import type { TrustProxySetting } from './http/trustProxy.ts';
import { healthRouter } from './health.ts';
import { JobService, type ModelCatalog } from './jobService.ts';
import type { JobWaiter } from './jobWaiter.ts';
import { apiDocsRouter } from './routes/apiDocs.ts';
import { webhookSecretRouter } from './routes/webhookSecret.ts';
import type { WebhookUrlPolicy } from '@inferq/webhooks';
import type { LiveEvents } from './liveEvents.ts';
import { OperatorService } from './operatorService.ts';
import { adminRouter } from './routes/admin.ts';
import { dashboardRouter } from './routes/dashboard.ts';
import { jobsRouter } from './routes/jobs.ts';
import { modelFilesRouter, modelsRouter } from './routes/models.ts';
import { ModelService, type ModelDownloadOptions } from './modelService.ts';

export interface ApiDependencies {
  logger: Logger;
  db: Database;
  jobs: JobStore;
  accounts: AccountStore;
  queue: InferenceQueue;
  models: ModelCatalog;
  defaultModel: string;
  imageLimits: ImageLimits;
  /** The account tiers (limits, priority, retention); see @inferq/accounts tiers.ts. */
  tiers: TierTable;
  /** Per-user rate limits and the per-address limit on failed authentication. */
  rateLimits: RateLimits;
  /** Queued + running jobs across all users above which submissions get 503 QUEUE_FULL. @defaultValue 10000 */
  maxQueuedJobs?: number;
  /** Submissions this process validates and stores at once; more get 503 SERVER_BUSY. @defaultValue 32 */
  maxConcurrentSubmits?: number;
  /**
   * Which proxies' X-Forwarded-For decides `req.ip` (the key of the per-address limits): a hop
   * count or proxy addresses/subnets, never "everyone"; see http/trustProxy.ts.
   * @defaultValue false: the client is the TCP peer
   */
  trustProxy?: TrustProxySetting;
  /**
   * Prometheus metrics served on /metrics; also `app.locals.metrics` for middleware that counts
   * (e.g. `rateLimitRejections`). @defaultValue a new set with the queue-depth gauge on `queue`
   */
  metrics?: ApiMetrics;
  /** Operators' queries and actions. @defaultValue built from the dependencies above, without models or a cap */
  operator?: OperatorService;
  /** The live-event hub behind GET /v1/events. @defaultValue none: that route answers 503 */
  liveEvents?: LiveEvents;
  /** The dashboard's build folder, served under /dashboard. @defaultValue none: a page says how to build it */
  dashboardDir?: string;
  /** Holds `?wait=` / `Prefer: wait=` requests until their job is final. @defaultValue none: they answer at once */
  waiter?: JobWaiter;
  /** Which webhook URLs submissions may carry. @defaultValue https to public addresses only */
  webhookPolicy?: WebhookUrlPolicy;
  /**
   * The model registry behind GET /v1/models, the public model files and the admin model
   * routes. @defaultValue none: those routes answer 404
   */
  registry?: ModelRegistry;
  /**
   * How POST /v1/admin/models/:name/versions downloads a model: which hosts (public https only
   * unless `policy.allowHosts` names an internal store), how many bytes, how long.
   * @defaultValue public https hosts only, 512 MiB, 5 minutes
   */
  modelDownload?: ModelDownloadOptions;
}

const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** Builds the Express app; starts nothing. */
export function createApp(deps: ApiDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  app.set('query parser', 'simple');

  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      serializers: {
        // A hostile URL (up to Node's 16 KiB head) must not blow up every log line it touches.
        // Secret-looking query parameters (`?api_key=`, `?token=`) are redacted before anything is written.
        req: (req: { id: string; method: string; url: string }) => {
          const url = redactUrl(req.url);
          return { id: req.id, method: req.method, url: url.length > 512 ? `${url.slice(0, 512)}…` : url };
        },
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
    }),
  );
  const metrics = deps.metrics ?? createApiMetrics({ queueCounts: () => deps.queue.counts() });
  app.locals.metrics = metrics;
  app.use(httpMetrics(metrics));
  app.use(helmet());
  app.use(express.json({ limit: '64kb' }));

  const jobEvents = new JobEventPublisher({ connection: deps.queue.connection, prefix: deps.queue.queue.opts.prefix });
  const service = new JobService({
    jobs: deps.jobs,
    queue: deps.queue,
    models: deps.models,
    defaultModel: deps.defaultModel,
    imageLimits: deps.imageLimits,
    tiers: deps.tiers,
    maxQueuedJobs: deps.maxQueuedJobs,
    waiter: deps.waiter,
    webhookPolicy: deps.webhookPolicy,
    deliveries: new WebhookDeliveryStore(deps.db),
    events: jobEvents,
  });

  app.use(
    healthRouter([
      { name: 'postgres', check: () => pingDatabase(deps.db) },
      { name: 'redis', check: () => pingRedis(deps.queue.connection) },
    ]),
  );
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/', (_req, res) => res.redirect(302, '/dashboard/'));
  app.use('/dashboard', dashboardStatic({ dir: deps.dashboardDir }));
  app.use(apiDocsRouter());
  const modelService = deps.registry
    ? new ModelService({ registry: deps.registry, download: deps.modelDownload, workers: new WorkerRegistry({ connection: deps.queue.connection, prefix: deps.queue.queue.opts.prefix }) })
    : undefined;
  // Model files are public (browsers load them with tf.loadLayersModel); see routes/models.ts.
  if (modelService) app.use('/v1', modelFilesRouter(modelService));
  // First of all: while the server is full a submission is refused before any key lookup or Redis call.
  const submitSlots = new SubmitSlots(deps.maxConcurrentSubmits ?? 32);
  app.post('/v1/jobs', submitSlots.refuseWhenFull);
  app.use('/v1', authenticate(deps.accounts, { addressLimits: deps.rateLimits }));
  // Submissions spend the tier's submit budget, every other request the request budget.
  app.use('/v1', rateLimit(deps.rateLimits, (req) => (req.method === 'POST' && req.path === '/jobs' ? 'submit' : 'request')));
  app.use('/v1', jobsRouter(service, { maxFileBytes: deps.imageLimits.maxBytes }, submitSlots));
  app.use('/v1', webhookSecretRouter(deps.accounts));
  if (modelService) app.use('/v1', modelsRouter(modelService));
  app.use('/v1/admin', adminRouter({ accounts: deps.accounts, jobs: deps.jobs, service, tiers: deps.tiers }));
  const stats = new JobStats(deps.db);
  const operator =
    deps.operator ??
    new OperatorService({
      jobs: deps.jobs,
      stats,
      queue: deps.queue,
      workers: new WorkerRegistry({ connection: deps.queue.connection, prefix: deps.queue.queue.opts.prefix }),
      events: jobEvents,
      // The cap JobService applies when none is configured.
      queueCap: deps.maxQueuedJobs ?? 10_000,
    });
  app.use('/v1', dashboardRouter({ service, jobs: deps.jobs, accounts: new AccountService({ stats, tiers: deps.tiers }), operator, live: deps.liveEvents }));
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
