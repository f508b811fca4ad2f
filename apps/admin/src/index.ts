#!/usr/bin/env node
import path from 'node:path';
import { AccountStore, resolveTiers, SecretBox } from '@inferq/accounts';
import { commonEnvSchema, localStackStateFileName, parseEnv } from '@inferq/core';
import { createDatabase } from '@inferq/db';
import { ModelRegistry } from '@inferq/models';
import { runAdminCommand, usage } from './adminCommands.ts';
import { adminEnvSchema } from './env.ts';
import { runModelCommand } from './modelCommands.ts';
import { runStorageCommand } from './storageCommands.ts';
import { blobStoreSettingsFromEnv, createBlobStore } from '@inferq/storage';
import { checkDatabase, DatabaseProblem, findDatabase, readStackState } from './stackDatabase.ts';

// `DATABASE_URL= pnpm admin …` means "not set", as for `pnpm start`.
const env = parseEnv(
  adminEnvSchema,
  'admin CLI',
  Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== '')),
);
const tierNames = Object.keys(resolveTiers(env.TIER_OVERRIDES));
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const stackFile = path.resolve(repoRoot, env.INFERQ_DATA_DIR, localStackStateFileName);
const stack = readStackState(stackFile);

const argv = process.argv.slice(2);
// Model commands work on the registry folder alone; no database connection.
if (argv[0] === 'models') {
  const root = env.MODELS_DIR ?? stack?.modelsDir ?? commonEnvSchema.shape.MODELS_DIR.parse(undefined);
  process.exit(await runModelCommand(argv, new ModelRegistry({ root }), process.stdout));
}

// Help needs no database.
if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
  (argv.length === 0 ? process.stderr : process.stdout).write(`${usage}\n`);
  process.exit(argv.length === 0 ? 2 : 0);
}

try {
  const choice = findDatabase({ databaseUrl: env.DATABASE_URL, stack: { file: stackFile, state: stack } });
  const db = createDatabase({ url: choice.url, poolSize: 1 });
  try {
    await checkDatabase(db, choice);
    if (argv[0] === 'storage') {
      const settings = blobStoreSettingsFromEnv(env);
      const store = settings ? createBlobStore(settings) : undefined;
      try {
        process.exitCode = await runStorageCommand(argv, db, store, process.stdout);
      } finally {
        await store?.close();
      }
    } else
      process.exitCode = await runAdminCommand(
        argv,
        new AccountStore(db, { tiers: tierNames, secrets: new SecretBox(env.WEBHOOK_SECRET_KEYS) }),
        process.stdout,
      );
  } finally {
    await db.$disconnect();
  }
} catch (error) {
  if (!(error instanceof DatabaseProblem)) throw error;
  process.stderr.write(`inferq-admin: ${error.message}\n`);
  process.exitCode = 1;
}
