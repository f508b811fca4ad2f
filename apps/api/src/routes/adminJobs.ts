import { Router, type Request } from 'express';
import { AppError, redeliverWebhooksBodySchema, retryJobsBodySchema } from '@inferq/core';
import { parseBody } from '../http/parseBody.ts';
import type { AdminJobFilterInput, JobCommands, JobReads, OperatorService, ReplayOperations } from '@inferq/jobs';
import { requireAdmin } from '../http/authenticate.ts';
import { metricsOf } from '../http/httpMetrics.ts';
import { firstString, jobFilterQuery } from '../http/query.ts';
import { toAdminJobView } from '../adminViews.ts';
import { toDeliveryView, toJobView } from '../jobView.ts';

export interface AdminJobsRouterOptions {
  reads: JobReads;
  commands: JobCommands;
  operator: OperatorService;
  replay: ReplayOperations;
}

function intParam(req: Request, name: string, fallback: number, min: number, max: number): number {
  const raw = req.query[name];
  if (raw === undefined) return fallback;
  const value = typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new AppError('VALIDATION_FAILED', `${name} must be an integer from ${min} to ${max}.`, {
      details: { [name]: raw },
    });
  }
  return value;
}

/** The operators' filters: an owner's, plus `user` (or `userId`) and the free text `q`. */
function adminJobFilterQuery(req: Request): AdminJobFilterInput {
  return {
    ...jobFilterQuery(req),
    userId: firstString(req.query.user) ?? firstString(req.query.userId),
    q: firstString(req.query.q),
  };
}

/**
 * The operators' view of the work: every user's jobs, the queue and its workers, throughput and
 * latency, and retry and cancel of any job. Mounted at /v1/admin behind `authenticate`; admins only.
 */
export function adminJobsRouter(options: AdminJobsRouterOptions): Router {
  const { reads, commands, operator, replay } = options;
  const router = Router();
  router.use(requireAdmin);

  router.get('/jobs', async function listAllJobs(req, res) {
    const page = await reads.listAll({
      ...adminJobFilterQuery(req),
      cursor: firstString(req.query.cursor),
      limit: firstString(req.query.limit),
    });
    res.json({ data: page.jobs.map(toAdminJobView), nextCursor: page.nextCursor });
  });

  router.post('/jobs/retry', async function retryJobs(req, res) {
    res.json(await replay.retryJobs(parseBody(retryJobsBodySchema, req.body)));
  });

  router.get('/jobs/:id/deliveries', async function listAnyJobDeliveries(req, res) {
    const job = await reads.getAny(req.params.id);
    res.json({ data: (await reads.deliveriesOf(job.id)).map(toDeliveryView) });
  });

  router.post('/jobs/:id/redeliver', async function redeliverJobWebhook(req, res) {
    res.status(202).json(await replay.redeliverJob(req.params.id, req.get('idempotency-key')));
  });

  router.post('/webhooks/redeliver', async function redeliverFailedWebhooks(req, res) {
    const body = parseBody(redeliverWebhooksBodySchema, req.body);
    res.status(body.dryRun ? 200 : 202).json(await replay.redeliverFailed(body));
  });

  router.get('/jobs/:id', async function getAnyJob(req, res) {
    res.json(toAdminJobView(await reads.getAny(req.params.id)));
  });

  router.post('/jobs/:id/retry', async function retryJob(req, res) {
    const job = await commands.retry(req.params.id);
    res.status(202).json(toJobView(job));
  });

  router.post('/jobs/:id/cancel', async function cancelAnyJob(req, res) {
    const job = await commands.cancelAny(req.params.id);
    metricsOf(req)?.jobsFinished.inc({ model: job.modelName, status: 'canceled', code: '' });
    res.json(toJobView(job));
  });

  router.get('/overview', async function getQueueOverview(_req, res) {
    res.json(await operator.snapshot());
  });

  router.get('/history', async function getHistory(req, res) {
    res.json(await operator.history(firstString(req.query.range) ?? 'hour', firstString(req.query.model)));
  });

  router.get('/stats', async function getJobStats(req, res) {
    const windowSeconds = intParam(req, 'window', 3600, 60, 7 * 24 * 3600);
    const bucketSeconds = intParam(req, 'bucket', 60, 1, 24 * 3600);
    if (windowSeconds / bucketSeconds > 500) {
      throw new AppError('VALIDATION_FAILED', 'At most 500 buckets: raise bucket or lower window.', {
        details: { window: windowSeconds, bucket: bucketSeconds },
      });
    }
    res.json(await operator.stats({ windowSeconds, bucketSeconds }));
  });

  return router;
}
