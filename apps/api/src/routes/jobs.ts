import { Router } from 'express';
import { principalOf } from '../http/authenticate.ts';
import type { JobService } from '../jobService.ts';
import { toJobView } from '../jobView.ts';
import { imageUpload, type UploadOptions } from '../http/upload.ts';

function firstString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

export function jobsRouter(service: JobService, upload: UploadOptions): Router {
  const router = Router();

  router.post('/jobs', imageUpload(upload), async function submitJob(req, res) {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { job, replayed } = await service.submit({
      principal: principalOf(req),
      image: req.file?.buffer,
      model: firstString(body.model) ?? firstString(req.query.model),
      modelVersion: firstString(body.version) ?? firstString(req.query.version),
      idempotencyKey: req.get('idempotency-key'),
    });
    const view = toJobView(job);
    // 200: the same Idempotency-Key within 24 h answers the original job instead of a new one.
    res.status(replayed ? 200 : 202).location(view.links.self).json(view);
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
    res.json(toJobView(job));
  });

  router.get('/jobs/:id', async function getJob(req, res) {
    const job = await service.get(principalOf(req), req.params.id);
    res.json(toJobView(job));
  });

  return router;
}
