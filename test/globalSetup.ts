import { execFile } from 'node:child_process';
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

/**
 * One database and one queue prefix per test run; the shipped models (nsfw, mnist) imported, with
 * their ONNX copies (a re-import of an imported model only adds what is missing: about a second).
 */
export default async function setup(project: TestProject) {
  const modelsDir = path.join(repoRoot, 'models');
  await Promise.all([
    run(process.execPath, [path.join(repoRoot, 'packages/inference/scripts/importNsfwModel.ts'), '--out', modelsDir], {
      cwd: repoRoot,
    }),
    run(process.execPath, [path.join(repoRoot, 'packages/training/scripts/importMnistModel.ts'), '--out', modelsDir], {
      cwd: repoRoot,
    }),
  ]);
  const services = await startTestServices();
  project.provide('databaseUrl', services.databaseUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('queuePrefix', services.queuePrefix);
  project.provide('modelsDir', modelsDir);
  return async () => {
    await services.stop();
  };
}
