import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { repoRoot, startTestServices } from '@inferq/testing';

const run = promisify(execFile);

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    queuePrefix: string;
    modelsDir: string;
  }
}

/** One database and one queue prefix per test run; the shipped models (nsfw, mnist) imported if missing. */
export default async function setup(project: TestProject) {
  const modelsDir = path.join(repoRoot, 'models');
  if (!existsSync(path.join(modelsDir, 'nsfw'))) {
    await run(process.execPath, [path.join(repoRoot, 'packages/inference/scripts/importNsfwModel.ts'), '--out', modelsDir], { cwd: repoRoot });
  }
  if (!existsSync(path.join(modelsDir, 'mnist'))) {
    await run(process.execPath, [path.join(repoRoot, 'packages/training/scripts/importMnistModel.ts'), '--out', modelsDir], { cwd: repoRoot });
  }
  const services = await startTestServices();
  project.provide('databaseUrl', services.databaseUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('queuePrefix', services.queuePrefix);
  project.provide('modelsDir', modelsDir);
  return async () => {
    await services.stop();
  };
}
