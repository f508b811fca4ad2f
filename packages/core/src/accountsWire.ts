import { z } from 'zod';
import { jobViewSchema } from './wire.ts';

/**
 * Wire schemas of the account routes: the caller's job list, and the administrators' routes
 * under /v1/admin (users, keys, tiers, all jobs). Lists are `{ data: [...] }`, paginated ones add
 * `nextCursor` (opaque; null on the last page).
 */

export const roles = ['user', 'admin'] as const;

export const jobListViewSchema = z
  .object({
    data: z.array(jobViewSchema),
    /** Pass as `?cursor=` for the next page; null on the last page. */
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'JobList' });

export const userViewSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string().nullable(),
    role: z.enum(roles),
    tier: z.string(),
    createdAt: z.iso.datetime(),
    disabledAt: z.iso.datetime().nullable(),
    /** Jobs queued or running now (only in listings). */
    jobsInFlight: z.number().int().optional(),
  })
  .meta({ id: 'User' });

export const apiKeyViewSchema = z
  .object({
    id: z.uuid(),
    /** The public start of the key, e.g. `iq_3f9a1c2b5d7e`. */
    prefix: z.string(),
    name: z.string().nullable(),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable(),
    revokedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'ApiKey' });

/** A key just issued: the only answer that ever carries the secret. */
export const issuedApiKeyViewSchema = z
  .object({ id: z.uuid(), prefix: z.string(), key: z.string(), userId: z.uuid() })
  .meta({ id: 'IssuedApiKey' });

export const tierViewSchema = z
  .object({
    name: z.string(),
    submitsPerWindow: z.number().int(),
    rateWindowSeconds: z.number().int(),
    submitBurst: z.number().int(),
    burstWindowSeconds: z.number().int(),
    requestsPerWindow: z.number().int(),
    maxJobsInFlight: z.number().int(),
    maxUploadBytes: z.number().int(),
    maxPixels: z.number().int(),
    maxBatchImages: z.number().int(),
    priority: z.number().int(),
    priorityStep: z.number().int(),
    retentionDays: z.number().int(),
  })
  .meta({ id: 'Tier' });

export const createUserBodySchema = z
  .object({
    email: z.email(),
    name: z.string().min(1).max(200).optional(),
    tier: z.string().min(1).max(32).optional(),
    role: z.enum(roles).optional(),
  })
  .strict();

export const updateUserBodySchema = z.object({ tier: z.string().min(1).max(32) }).strict();

/**
 * `DELETE /v1/account`: the caller confirms by naming the account's email (any case), so a
 * stray request, or a leaked key alone in a script that does not know whose it is, erases nothing.
 */
export const deleteAccountBodySchema = z
  .object({
    confirm: z
      .string()
      .max(320)
      .meta({ description: 'The email of the account being deleted (any case).', example: 'ada@example.com' }),
  })
  .strict()
  .meta({ id: 'DeleteAccountBody' });

/** What `DELETE /v1/account` erased. */
export const accountDeletionViewSchema = z
  .object({
    userId: z.uuid(),
    email: z.string(),
    /** Jobs deleted, with their inputs, results and webhook deliveries (queued and running ones included). */
    jobsDeleted: z.number().int(),
  })
  .meta({ id: 'AccountDeletion' });

export const issueKeyBodySchema = z.object({ name: z.string().min(1).max(100).optional() }).strict();

export const userListViewSchema = z.object({ data: z.array(userViewSchema) }).meta({ id: 'UserList' });
export const apiKeyListViewSchema = z.object({ data: z.array(apiKeyViewSchema) }).meta({ id: 'ApiKeyList' });
export const tierListViewSchema = z.object({ data: z.array(tierViewSchema) }).meta({ id: 'TierList' });

/** `POST /v1/admin/users`: the user and their first key. */
export const createdUserViewSchema = z
  .object({ user: userViewSchema, apiKey: issuedApiKeyViewSchema })
  .meta({ id: 'CreatedUser' });
/** `GET /v1/admin/users/:user`. */
export const userDetailViewSchema = z
  .object({ user: userViewSchema, keys: z.array(apiKeyViewSchema) })
  .meta({ id: 'UserDetail' });

/** A job in the administrators' listing: the public view plus its owner. */
export const adminJobViewSchema = jobViewSchema.extend({ userId: z.uuid().nullable() }).meta({ id: 'AdminJob' });
export const adminJobListViewSchema = z
  .object({ data: z.array(adminJobViewSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'AdminJobList' });

export type JobListView = z.infer<typeof jobListViewSchema>;
export type UserView = z.infer<typeof userViewSchema>;
export type ApiKeyView = z.infer<typeof apiKeyViewSchema>;
export type IssuedApiKeyView = z.infer<typeof issuedApiKeyViewSchema>;
export type TierView = z.infer<typeof tierViewSchema>;
export type AdminJobView = z.infer<typeof adminJobViewSchema>;
export type AccountDeletionView = z.infer<typeof accountDeletionViewSchema>;
