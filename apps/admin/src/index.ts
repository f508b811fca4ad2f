#!/usr/bin/env node
import { AccountStore, resolveTiers, tierOverridesSchema } from '@inferq/accounts';
import { createDatabase } from '@inferq/db';
import { z } from 'zod';
import { ModelRegistry } from '@inferq/models';
import { runAdminCommand } from './adminCommands.ts';
import { runModelCommand } from './modelCommands.ts';

const env = z
  .object({
    DATABASE_URL: z.string().url().default('postgresql://postgres@127.0.0.1:5432/inferq'),
    /** The model registry folder the API and workers share (`models …` commands). */
    MODELS_DIR: z.string().default('models'),
    /** The API's tier changes (JSON), so tiers it adds can be assigned here too. */
    TIER_OVERRIDES: z
      .string()
      .transform((text) => JSON.parse(text) as unknown)
      .pipe(tierOverridesSchema)
      .optional(),
  })
  .parse(process.env);
const tierNames = Object.keys(resolveTiers(env.TIER_OVERRIDES));

const argv = process.argv.slice(2);
// Model commands work on the registry folder alone; no database connection.
if (argv[0] === 'models') {
  process.exit(await runModelCommand(argv, new ModelRegistry({ root: env.MODELS_DIR }), process.stdout));
}

const db = createDatabase({ url: env.DATABASE_URL, poolSize: 1 });
try {
  process.exitCode = await runAdminCommand(argv, new AccountStore(db, { tiers: tierNames }), process.stdout);
} finally {
  await db.$disconnect();
}
