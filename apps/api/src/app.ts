import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { healthRouter } from './health.ts';
import { authenticate, requireMetricsToken } from './http/authenticate.ts';
import { dashboardStatic } from './http/dashboardStatic.ts';
import { errorHandler, notFoundHandler } from './http/errorHandler.ts';
import { httpMetrics } from './http/httpMetrics.ts';
import { rateLimit } from './http/rateLimit.ts';
import { redactUrl } from './http/redactUrl.ts';
import type { TrustProxySetting } from './http/trustProxy.ts';
import { accountRouter } from './routes/account.ts';
import { adminAccountsRouter } from './routes/adminAccounts.ts';
import { adminJobsRouter } from './routes/adminJobs.ts';
import { apiDocsRouter } from './routes/apiDocs.ts';
import { eventsRouter } from './routes/events.ts';
import { jobsRouter } from './routes/jobs.ts';
import { modelFilesRouter, modelsRouter } from './routes/models.ts';
import { modelRolloutRouter } from './routes/modelRollout.ts';
import { queueOperationsRouter } from './routes/queueOperations.ts';
import { adminAdmissionRouter } from './routes/adminAdmission.ts';
import {
  inferenceProtocolErrors,
  inferenceProtocolHealthRouter,
  inferenceProtocolRouter,
} from './routes/inferenceProtocol.ts';
import type { ApiServices } from './services.ts';

export interface ApiDependencies {
  logger: Logger;
  /** The services the routes call (see buildApiServices). */
  services: ApiServices;
  /**
   * Which proxies' X-Forwarded-For decides `req.ip` (the key of the per-address limits): a hop
   * count or proxy addresses/subnets, never "everyone"; see http/trustProxy.ts.
   * @defaultValue false: the client is the TCP peer
   */
  trustProxy?: TrustProxySetting | undefined;
  /** The dashboard's build folder, served under /dashboard. @defaultValue none: a page says how to build it */
  dashboardDir?: string | undefined;
  /** Bearer token a Prometheus scrape of /metrics must send. @defaultValue none: /metrics is open (keep it off the public network) */
  metricsToken?: string | undefined;
}

const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** Mounts the API's routes on a new Express app; builds no service and starts nothing. */
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
      customLogLevel: (_req, res, error) =>
        error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
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
  const { services } = deps;
  const { metrics } = services;
  app.locals.metrics = metrics;
  app.use(httpMetrics(metrics));
  // Helmet's default policy, less upgrade-insecure-requests: over plain http from an address other
  // than localhost (HOST=0.0.0.0 on a LAN) it makes the browser ask for /docs' script over https,
  // which this server does not speak, and the page stays blank. Behind TLS there is nothing to upgrade.
  app.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));
  // /v2 inference bodies are tensors (JSON or binary), read by the protocol's own parser.
  app.use(
    express.json({
      limit: '64kb',
      type: (req) => !(req.url ?? '').startsWith('/v2/') && Boolean((req as express.Request).is?.('application/json')),
    }),
  );

  app.use(healthRouter(services.readiness));
  // With a token set, a scrape without it is refused before any Redis read (the queue gauges).
  app.get('/metrics', requireMetricsToken(deps.metricsToken), async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/', (_req, res) => res.redirect(302, '/dashboard/'));
  app.use('/dashboard', dashboardStatic({ dir: deps.dashboardDir }));
  app.use(apiDocsRouter());
  // Model files are public (browsers load them with tf.loadLayersModel); see routes/models.ts.
  if (services.models) app.use('/v1', modelFilesRouter(services.models, services.rateLimits));
  // First of all, the submit slots' door: while a user's queues are full their submission is refused
  // before any key lookup or Redis call, and past the few of theirs being read it waits there unread.
  // One route each (not an array): the metrics label a request by its route's path.
  app.post('/v1/jobs', services.submitSlots.enter);
  app.post('/v1/jobs/batch', services.submitSlots.enter);
  app.post('/v2/models/:name/infer', services.submitSlots.enter);
  app.post('/v2/models/:name/versions/:version/infer', services.submitSlots.enter);
  // The Open Inference Protocol: server metadata and health are public (probes); models need a key.
  app.use(inferenceProtocolHealthRouter(services.readiness));
  app.use('/v2', authenticate(services.accounts, { addressLimits: services.rateLimits }));
  app.use(
    '/v2',
    rateLimit(services.rateLimits, (req) =>
      req.method === 'POST' && req.path.endsWith('/infer') ? 'submit' : 'request',
    ),
  );
  app.use(
    '/v2',
    inferenceProtocolRouter(services.jobs, services.models, {
      maxBodyBytes: services.maxFileBytes,
      tiers: services.tiers,
      slots: services.submitSlots,
      uploadBytes: services.shares.uploadBytes,
    }),
  );
  app.use('/v2', inferenceProtocolErrors);
  app.use('/v1', authenticate(services.accounts, { addressLimits: services.rateLimits }));
  // Submissions spend the tier's submit budget, every other request the request budget.
  app.use(
    '/v1',
    rateLimit(services.rateLimits, (req) =>
      req.method === 'POST' && (req.path === '/jobs' || req.path === '/jobs/batch') ? 'submit' : 'request',
    ),
  );
  app.use(
    '/v1',
    jobsRouter(services.jobs, {
      maxFileBytes: services.maxFileBytes,
      tiers: services.tiers,
      slots: services.submitSlots,
      uploadBytes: services.shares.uploadBytes,
      rateLimits: services.rateLimits,
    }),
  );
  app.use('/v1', accountRouter(services.account, services.accounts));
  app.use('/v1', eventsRouter(services.live, services.jobs.reads));
  if (services.models) app.use('/v1', modelsRouter(services.models));
  if (services.rollout) app.use('/v1/admin', modelRolloutRouter(services.rollout));
  app.use(
    '/v1/admin',
    adminAccountsRouter({ accounts: services.accounts, queries: services.queries, tiers: services.tiers }),
  );
  app.use(
    '/v1/admin',
    adminJobsRouter({
      reads: services.jobs.reads,
      commands: services.jobs.commands,
      operator: services.operator,
      replay: services.replay,
    }),
  );
  app.use('/v1/admin', queueOperationsRouter(services.queueOperations));
  app.use('/v1/admin', adminAdmissionRouter(services.admission));
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
