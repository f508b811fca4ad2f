#!/usr/bin/env node
import { AccountStore, tierNames } from '@inferq/accounts';
import { createDatabase } from '@inferq/db';
import { z } from 'zod';
import { runAdminCommand } from './adminCommands.ts';

const env = z
  .object({ DATABASE_URL: z.string().url().default('postgresql://postgres@127.0.0.1:5432/inferq') })
  .parse(process.env);

const db = createDatabase({ url: env.DATABASE_URL, poolSize: 1 });
try {
  process.exitCode = await runAdminCommand(process.argv.slice(2), new AccountStore(db, { tiers: tierNames }), process.stdout);
} finally {
  await db.$disconnect();
}
