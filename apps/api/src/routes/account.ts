import { Router } from 'express';
import type { AccountService, AccountStore } from '@inferq/accounts';
import { AppError, type WebhookSecretView } from '@inferq/core';
import { principalOf } from '../http/authenticate.ts';

/** The caller's own account: tier, limits and usage, and the webhook signing secret (read or rotate). */
export function accountRouter(account: AccountService, accounts: AccountStore): Router {
  const router = Router();

  router.get('/account', async function getAccount(req, res) {
    res.json(await account.describe(principalOf(req)));
  });

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
