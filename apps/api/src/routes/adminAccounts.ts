import { Router } from 'express';
import type { AccountStore, TierTable } from '@inferq/accounts';
import { AppError, createUserBodySchema, isUuid, issueKeyBodySchema, updateUserBodySchema } from '@inferq/core';
import type { JobQueries } from '@inferq/db';
import { principalOf, requireAdmin } from '../http/authenticate.ts';
import { parseBody } from '../http/parseBody.ts';
import { toApiKeyView, toTierView, toUserView } from '../adminViews.ts';

export interface AdminAccountsRouterOptions {
  accounts: AccountStore;
  /** Jobs in flight per user, shown with each user. */
  queries: JobQueries;
  tiers: TierTable;
}

const keyPrefixPattern = /^iq_[0-9a-f]{12}$/;

/**
 * User, key and tier administration, mirroring the admin CLI. Mounted at /v1/admin behind
 * `authenticate`; every route answers 403 FORBIDDEN to a caller who is not an administrator.
 */
export function adminAccountsRouter(options: AdminAccountsRouterOptions): Router {
  const { accounts, queries, tiers } = options;
  const router = Router();
  router.use(requireAdmin);

  /** A user by id or email; anything else is simply not found. */
  async function findUser(idOrEmail: string) {
    const user = idOrEmail.includes('@') || isUuid(idOrEmail) ? await accounts.findUser(idOrEmail) : null;
    if (!user) throw new AppError('NOT_FOUND', 'No such user.', { details: { user: idOrEmail.slice(0, 200) } });
    return user;
  }

  router.get('/tiers', function listTiers(_req, res) {
    res.json({ data: Object.values(tiers).map(toTierView) });
  });

  router.get('/users', async function listUsers(_req, res) {
    const [users, inFlight] = await Promise.all([accounts.listUsers(), queries.inFlightByUser()]);
    res.json({ data: users.map((user) => toUserView(user, inFlight.get(user.id) ?? 0)) });
  });

  router.post('/users', async function createUser(req, res) {
    const body = parseBody(createUserBodySchema, req.body);
    const user = await accounts.createUser(body);
    const key = await accounts.issueKey(user.id, 'first key');
    res
      .status(201)
      .location(`/v1/admin/users/${user.id}`)
      .json({ user: toUserView(user), apiKey: key });
  });

  router.get('/users/:user', async function getUser(req, res) {
    const user = await findUser(req.params.user);
    const [keys, inFlight] = await Promise.all([accounts.listKeys(user.id), queries.countInFlight(user.id)]);
    res.json({ user: toUserView(user, inFlight), keys: keys.map(toApiKeyView) });
  });

  router.patch('/users/:user', async function updateUser(req, res) {
    const body = parseBody(updateUserBodySchema, req.body);
    const user = await findUser(req.params.user);
    const updated = await accounts.setTier(user.id, body.tier);
    res.json({ user: toUserView(updated) });
  });

  // Disabled, a user's keys stop on their next request (every API process drops its cached
  // principals on the change notification); their jobs and data stay. Enable undoes it.
  router.post('/users/:user/disable', async function disableUser(req, res) {
    const user = await findUser(req.params.user);
    if (user.id === principalOf(req).userId) throw new AppError('CONFLICT', 'You cannot disable your own account.');
    const updated = await accounts.setDisabled(user.id, true);
    res.json({ user: toUserView(updated ?? user) });
  });

  router.post('/users/:user/enable', async function enableUser(req, res) {
    const user = await findUser(req.params.user);
    const updated = await accounts.setDisabled(user.id, false);
    res.json({ user: toUserView(updated ?? user) });
  });

  router.get('/users/:user/keys', async function listKeys(req, res) {
    const user = await findUser(req.params.user);
    res.json({ data: (await accounts.listKeys(user.id)).map(toApiKeyView) });
  });

  router.post('/users/:user/keys', async function issueKey(req, res) {
    const body = parseBody(issueKeyBodySchema, req.body);
    const user = await findUser(req.params.user);
    const key = await accounts.issueKey(user.id, body.name);
    res.status(201).json(key);
  });

  router.post('/keys/:key/revoke', async function revokeKey(req, res) {
    const idOrPrefix = req.params.key;
    const known = isUuid(idOrPrefix) || keyPrefixPattern.test(idOrPrefix) ? await accounts.findKey(idOrPrefix) : null;
    if (!known) throw new AppError('NOT_FOUND', 'No such key.', { details: { key: idOrPrefix.slice(0, 64) } });
    await accounts.revokeKey(known.id);
    const revoked = await accounts.findKey(known.id);
    res.json(toApiKeyView(revoked ?? known));
  });

  return router;
}
