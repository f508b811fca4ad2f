import { Router, type RequestHandler, type Response } from 'express';
import { isFinalStatus } from '@inferq/core';
import { waitPreference } from '../http/prefer.ts';
import { sendJob } from '../http/sendJob.ts';
import { releaseSubmitSlot, type SubmitSlots } from '../http/submitSlots.ts';
import { principalOf } from '../http/authenticate.ts';
import type { JobService } from '../jobService.ts';
import { toDeliveryView, toJobView } from '../jobView.ts';
import { imageUpload, type UploadOptions } from '../http/upload.ts';
import { metricsOf } from '../http/httpMetrics.ts';

function firstString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/** Aborted when the client goes away before the answer is sent, so its wait stops at once. */
function clientGone(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

export function jobsRouter(service: JobService, upload: UploadOptions, slots?: SubmitSlots): Router {
  const router = Router();

  const acquireSlot: RequestHandler = slots ? slots.acquire : (_req, _res, next) => next();
  router.post('/jobs', imageUpload(upload), acquireSlot, async function submitJob(req, res) {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { job, replayed } = await service.submit({
      principal: principalOf(req),
      image: req.file?.buffer,
      fileName: req.file?.originalname,
      model: firstString(body.model) ?? firstString(req.query.model),
      modelVersion: firstString(body.version) ?? firstString(req.query.version),
      idempotencyKey: req.get('idempotency-key'),
      webhook: firstString(body.webhook),
    });
    releaseSubmitSlot(res);
    if (!replayed) metricsOf(req)?.jobsSubmitted.inc({ model: job.modelName });
    req.log?.setBindings?.({ jobId: job.id });
    // `Prefer: wait=N`: hold the answer until the job is final (200) or N seconds pass (202).
    const wait = waitPreference(undefined, req.get('prefer'));
    let latest = job;
    if (wait.fromPrefer) {
      res.set('Preference-Applied', `wait=${wait.seconds}`);
      if (wait.seconds > 0 && !isFinalStatus(job.status)) {
        const outcome = await service.waitFor(principalOf(req), job.id, { timeoutMs: wait.seconds * 1000, signal: clientGone(res) });
        if (!outcome.job) return; // the client went away
        latest = outcome.job;
      }
    }
    const view = toJobView(latest);
    // 200: the same Idempotency-Key within 24 h answers the original job instead of a new one,
    // and a job that finished while the request waited is answered with its result.
    res.location(view.links.self);
    sendJob(req, res, view, replayed || isFinalStatus(latest.status) ? 200 : 202);
  });

  router.get('/jobs', async function listJobs(req, res) {
    const page = await service.list(principalOf(req), {
      status: firstString(req.query.status),
      cursor: firstString(req.query.cursor),
      limit: firstString(req.query.limit),
    });
    res.json({ data: page.jobs.map(toJobView), nextCursor: page.nextCursor });
  });

  router.post('/jobs/:id/cancel', async function cancelJob(req, res) {
    const job = await service.cancel(principalOf(req), req.params.id);
    metricsOf(req)?.jobsFinished.inc({ model: job.modelName, status: 'canceled', code: '' });
    res.json(toJobView(job));
  });

  router.get('/jobs/:id', async function getJob(req, res) {
    const wait = waitPreference(req.query.wait, req.get('prefer'));
    res.vary('Prefer');
    if (wait.fromPrefer) res.set('Preference-Applied', `wait=${wait.seconds}`);
    const outcome = await service.waitFor(principalOf(req), req.params.id, { timeoutMs: wait.seconds * 1000, signal: clientGone(res) });
    if (!outcome.job) return; // the client went away
    sendJob(req, res, toJobView(outcome.job));
  });

  router.get('/jobs/:id/deliveries', async function listJobDeliveries(req, res) {
    const deliveries = await service.deliveries(principalOf(req), req.params.id);
    res.json({ data: deliveries.map(toDeliveryView) });
  });

  return router;
}
