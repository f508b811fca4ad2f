#!/usr/bin/env node
import { AccountStore, resolveTiers, SecretBox, secretKeysEnvSchema, tierOverridesEnvSchema } from '@inferq/accounts';
import { commonEnvSchema, parseEnv } from '@inferq/core';
import { createDatabase } from '@inferq/db';
import { ModelRegistry } from '@inferq/models';
import { runAdminCommand } from './adminCommands.ts';
import { runModelCommand } from './modelCommands.ts';

/** The admin CLI's settings: the database, the model registry folder the API and workers share (`models …` commands), and the API's tier changes, so tiers it adds can be assigned here too. */
const adminEnvSchema = commonEnvSchema
  .pick({ DATABASE_URL: true, MODELS_DIR: true })
  .extend({ TIER_OVERRIDES: tierOverridesEnvSchema.optional(), WEBHOOK_SECRET_KEYS: secretKeysEnvSchema.optional() });
const env = parseEnv(adminEnvSchema, 'admin CLI', process.env);
const tierNames = Object.keys(resolveTiers(env.TIER_OVERRIDES));

const argv = process.argv.slice(2);
// Model commands work on the registry folder alone; no database connection.
if (argv[0] === 'models') {
  process.exit(await runModelCommand(argv, new ModelRegistry({ root: env.MODELS_DIR }), process.stdout));
}

const db = createDatabase({ url: env.DATABASE_URL, poolSize: 1 });
try {
  process.exitCode = await runAdminCommand(argv, new AccountStore(db, { tiers: tierNames, secrets: new SecretBox(env.WEBHOOK_SECRET_KEYS) }), process.stdout);
} finally {
  await db.$disconnect();
}
