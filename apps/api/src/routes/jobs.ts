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
    const job = await service.submit({
      principal: principalOf(req),
      image: req.file?.buffer,
      model: firstString(body.model) ?? firstString(req.query.model),
      modelVersion: firstString(body.version) ?? firstString(req.query.version),
    });
    const view = toJobView(job);
    res.status(202).location(view.links.self).json(view);
  });

  router.get('/jobs/:id', async function getJob(req, res) {
    const job = await service.get(principalOf(req), req.params.id);
    res.json(toJobView(job));
  });

  return router;
}
