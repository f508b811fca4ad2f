import { Router } from 'express';
import { cleanJobsBodySchema, retryFailedBodySchema } from '@inferq/core';
import { requireAdmin } from '../http/authenticate.ts';
import { parseBody } from '../http/parseBody.ts';
import type { QueueOperations } from '@inferq/jobs';

/**
 * The operators' bulk actions, mounted at /v1/admin: pause and resume the queue(s), retry every
 * failed job, clean finished jobs older than an age. Administrators only.
 */
export function queueOperationsRouter(operations: QueueOperations): Router {
  const router = Router();
  router.use(requireAdmin);

  router.get('/queue', async function getQueueState(_req, res) {
    res.json(await operations.state());
  });

  router.post('/queue/pause', async function pauseQueue(_req, res) {
    res.json(await operations.setPaused(true));
  });

  router.post('/queue/resume', async function resumeQueue(_req, res) {
    res.json(await operations.setPaused(false));
  });

  router.post('/jobs/retry-failed', async function retryFailedJobs(req, res) {
    res.json(await operations.retryFailed(parseBody(retryFailedBodySchema, req.body)));
  });

  router.post('/jobs/clean', async function cleanJobs(req, res) {
    res.json(await operations.clean(parseBody(cleanJobsBodySchema, req.body)));
  });

  return router;
}
