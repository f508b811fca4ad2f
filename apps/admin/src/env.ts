import { z } from 'zod';
import { secretKeysEnvSchema, tierOverridesEnvSchema } from '@inferq/accounts';
import { blobStoreEnvShape } from '@inferq/storage';

/**
 * The admin CLI's settings: the database, the model registry folder the API and workers share
 * (`models …` commands), and the API's tier changes, so tiers it adds can be assigned here too.
 * DATABASE_URL and MODELS_DIR have no default: unset, they are those of the `pnpm start` stack
 * of this checkout (its `<INFERQ_DATA_DIR>/state.json`). The `.describe()` texts are the settings
 * page (`pnpm docs:settings`).
 */
export const adminEnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .url()
    .optional()
    .describe(
      "The Postgres to manage; unset, the database of this checkout's `pnpm start` (named in `.inferq/state.json`).",
    ),
  MODELS_DIR: z
    .string()
    .optional()
    .describe(
      "The registry folder of the `models …` commands; unset, the one this checkout's `pnpm start` uses, else `models`.",
    ),
  INFERQ_DATA_DIR: z
    .string()
    .default('.inferq')
    .describe("Where `pnpm start` keeps its state, relative to the checkout, as the stack's own setting."),
  TIER_OVERRIDES: tierOverridesEnvSchema
    .optional()
    .describe("The API's value, so that tiers it adds can be assigned here too."),
  WEBHOOK_SECRET_KEYS: secretKeysEnvSchema
    .optional()
    .describe("The API's value: `webhook-secrets reencrypt` and new users' secrets use it."),
  ...blobStoreEnvShape,
});
