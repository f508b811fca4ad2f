#!/usr/bin/env node
import { AccountStore, resolveTiers, tierOverridesSchema } from '@inferq/accounts';
import { createDatabase } from '@inferq/db';
import { z } from 'zod';
import { runAdminCommand } from './adminCommands.ts';

const env = z
  .object({
    DATABASE_URL: z.string().url().default('postgresql://postgres@127.0.0.1:5432/inferq'),
    /** The API's tier changes (JSON), so tiers it adds can be assigned here too. */
    TIER_OVERRIDES: z
      .string()
      .transform((text) => JSON.parse(text) as unknown)
      .pipe(tierOverridesSchema)
      .optional(),
  })
  .parse(process.env);
const tierNames = Object.keys(resolveTiers(env.TIER_OVERRIDES));

const db = createDatabase({ url: env.DATABASE_URL, poolSize: 1 });
try {
  process.exitCode = await runAdminCommand(process.argv.slice(2), new AccountStore(db, { tiers: tierNames }), process.stdout);
} finally {
  await db.$disconnect();
}
