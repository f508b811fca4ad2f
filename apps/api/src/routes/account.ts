import { Router } from 'express';
import type { AccountService, AccountStore } from '@inferq/accounts';
import { AppError, deleteAccountBodySchema, type WebhookSecretView } from '@inferq/core';
import { principalOf } from '../http/authenticate.ts';
import { parseBody } from '../http/parseBody.ts';

/** The caller's own account: tier, limits and usage, the webhook signing secret (read or rotate), and its erasure. */
export function accountRouter(account: AccountService, accounts: AccountStore): Router {
  const router = Router();

  router.get('/account', async function getAccount(req, res) {
    res.json(await account.describe(principalOf(req)));
  });

  router.delete('/account', async function deleteAccount(req, res) {
    // Without `confirm` (or with the wrong email) the service answers CONFIRMATION_REQUIRED.
    const body = parseBody(deleteAccountBodySchema.partial(), req.body);
    res.json(await account.erase(principalOf(req), body.confirm));
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
