import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { drawingImage } from '@inferq/images/testing';
import { repoRoot, type PlatformProcess } from '@inferq/testing';
import { createTestUser, platformEnv, startApiProcess, startWorkerProcess, stopAll } from './platform.ts';

const run = promisify(execFile);

// The Python client's own tests (clients/python/tests, unittest), run with the machine's python3
// against a real API and worker.
const env = platformEnv({ queuePrefix: `${inject('queuePrefix')}-py-${randomUUID().slice(0, 8)}` });
let api: PlatformProcess | undefined;
let worker: PlatformProcess | undefined;
let baseUrl = '';
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'inferq-python-'));
  await writeFile(
    path.join(dir, 'photo.jpg'),
    await sharp(await drawingImage(320, 240))
      .jpeg()
      .toBuffer(),
  );
  // Free-tier users may submit once per window: the retry test's rate limit.
  const extra = {
    TIER_OVERRIDES: JSON.stringify({ free: { submitsPerWindow: 1, submitBurst: 0, rateWindowSeconds: 3600 } }),
  };
  const [apiStarted, workerStarted] = await Promise.all([
    startApiProcess({ ...env, extra }),
    startWorkerProcess({ ...env, workerId: 'python-client', extra: { WORKER_MODELS: 'nsfw' } }),
  ]);
  api = apiStarted.process;
  worker = workerStarted.process;
  baseUrl = apiStarted.baseUrl;
});
afterAll(async () => {
  await stopAll([api, worker]);
  await rm(dir, { recursive: true, force: true });
});

describe('the Python client (clients/python)', () => {
  it('passes its unittest suite against the running API, with no test skipped', async () => {
    const [user, limited, erasable] = await Promise.all([
      createTestUser(env.databaseUrl, { tier: 'pro' }),
      createTestUser(env.databaseUrl, { tier: 'free' }),
      createTestUser(env.databaseUrl, { tier: 'pro' }),
    ]);
    const result = await run('python3', ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.', '-v'], {
      cwd: path.join(repoRoot, 'clients/python'),
      env: {
        PATH: process.env.PATH ?? '',
        PYTHONDONTWRITEBYTECODE: '1',
        INFERQ_TEST_BASE_URL: baseUrl,
        INFERQ_TEST_API_KEY: user.key,
        INFERQ_TEST_LIMITED_API_KEY: limited.key,
        INFERQ_TEST_ERASABLE_API_KEY: erasable.key,
        INFERQ_TEST_ERASABLE_EMAIL: erasable.email,
        INFERQ_TEST_IMAGE: path.join(dir, 'photo.jpg'),
        // In the registry, served by no worker here (this file's worker serves nsfw only).
        INFERQ_TEST_UNSERVED_MODEL: 'mnist',
      },
      timeout: 300_000,
    }).then(
      ({ stderr }) => ({ code: 0, output: stderr }),
      (error: { code?: number | string; stderr?: string; stdout?: string }) => ({
        code: error.code,
        output: `${error.stdout ?? ''}${error.stderr ?? ''}`,
      }),
    );
    // unittest reports on stderr: "Ran N tests", then "OK" or "FAILED (…)".
    expect(result.output, result.output).toMatch(/^OK$/m);
    expect(result.code).toBe(0);
    expect(result.output).not.toMatch(/skipped/);
    expect(Number(/^Ran (\d+) tests?/m.exec(result.output)?.[1])).toBeGreaterThanOrEqual(20);
  });
});
