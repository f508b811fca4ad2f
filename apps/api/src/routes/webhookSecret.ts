import { Router } from 'express';
import type { AccountStore } from '@inferq/accounts';
import { AppError, type WebhookSecretView } from '@inferq/core';
import { principalOf } from '../http/authenticate.ts';

/** The caller's webhook signing secret: read it, or rotate it. */
export function webhookSecretRouter(accounts: AccountStore): Router {
  const router = Router();

  router.get('/account/webhook-secret', async function getWebhookSecret(req, res) {
    const secret = await accounts.webhookSecret(principalOf(req).userId);
    if (!secret) throw new AppError('UNAUTHENTICATED', 'A valid API key is required.');
    res.set('Cache-Control', 'no-store').json({ secret } satisfies WebhookSecretView);
  });

  router.post('/account/webhook-secret', async function rotateWebhookSecret(req, res) {
    const secret = await accounts.rotateWebhookSecret(principalOf(req).userId);
    res.set('Cache-Control', 'no-store').json({ secret } satisfies WebhookSecretView);
  });

  return router;
}
