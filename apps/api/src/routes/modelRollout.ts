import { Router } from 'express';
import { z } from 'zod';
import { putTrafficBodySchema } from '@inferq/core';
import type { RolloutService } from '@inferq/rollout';
import { requireAdmin } from '../http/authenticate.ts';
import { parseBody } from '../http/parseBody.ts';

const compareQuerySchema = z.object({
  baseline: z.string().min(1).max(64),
  candidate: z.string().min(1).max(64),
  /** ISO 8601; absent: since the split was set, else the last 24 hours. */
  since: z.iso.datetime({ offset: true }).optional(),
});

/**
 * The operators' rollout routes (admins only): a model's traffic split (GET, PUT, DELETE), the
 * comparison of two versions on stored results, and the automatic rollbacks.
 */
export function modelRolloutRouter(service: RolloutService): Router {
  const router = Router();

  router.get('/models/:name/traffic', requireAdmin, async function getTraffic(req, res) {
    res.json(await service.getTraffic(req.params.name as string));
  });

  router.put('/models/:name/traffic', requireAdmin, async function setTraffic(req, res) {
    const body = parseBody(putTrafficBodySchema, req.body);
    res.json(await service.setTraffic(req.params.name as string, body));
  });

  router.delete('/models/:name/traffic', requireAdmin, async function clearTraffic(req, res) {
    res.json(await service.clearTraffic(req.params.name as string));
  });

  router.get('/models/:name/compare', requireAdmin, async function compareVersions(req, res) {
    const query = parseBody(compareQuerySchema, req.query);
    res.json(
      await service.compare(
        req.params.name as string,
        query.baseline,
        query.candidate,
        query.since ? new Date(query.since) : undefined,
      ),
    );
  });

  router.get('/rollbacks', requireAdmin, async function listRollbacks(_req, res) {
    res.json({ rollbacks: await service.rollbacks() });
  });

  return router;
}
