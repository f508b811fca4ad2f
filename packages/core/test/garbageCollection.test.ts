import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { processRuntimeEnv, withProcessRuntimeEnv } from '../src/garbageCollection.ts';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

describe('processRuntimeEnv', () => {
  it('is what the Docker image sets for its processes', () => {
    const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
    const envLines = dockerfile.split('\n').filter((line) => line.startsWith('ENV NODE_OPTIONS='));
    // The runtime stage of each image (the platform's and the GPU worker's).
    expect(envLines.length).toBeGreaterThan(0);
    for (const line of envLines)
      expect(line).toBe(
        `ENV NODE_OPTIONS=${processRuntimeEnv.NODE_OPTIONS} MALLOC_ARENA_MAX=${processRuntimeEnv.MALLOC_ARENA_MAX}`,
      );
  });

  it("puts the caller's NODE_OPTIONS after its own and keeps the caller's MALLOC_ARENA_MAX", () => {
    expect(withProcessRuntimeEnv({})).toEqual(processRuntimeEnv);
    expect(withProcessRuntimeEnv({ NODE_OPTIONS: '  ', MALLOC_ARENA_MAX: '' })).toEqual(processRuntimeEnv);
    expect(
      withProcessRuntimeEnv({ NODE_OPTIONS: '--max-semi-space-size=64 --inspect', MALLOC_ARENA_MAX: '4' }),
    ).toEqual({
      NODE_OPTIONS: '--max-semi-space-size=16 --max-semi-space-size=64 --inspect',
      MALLOC_ARENA_MAX: '4',
    });
  });

  it("bounds a process's young generation, and the caller's own flag still wins", async () => {
    // A process that churns through short-lived objects grows its young generation to the limit.
    const script = `
      let keep = [];
      for (let i = 0; i < 3e6; i++) { keep.push({ i, list: [i] }); if (keep.length > 200000) keep = []; }
      const space = require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      process.stdout.write(String(space.space_size));`;
    const newSpaceBytes = async (env: NodeJS.ProcessEnv) => {
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
        env: { ...process.env, ...withProcessRuntimeEnv(env) },
      });
      return Number(stdout);
    };
    const MB = 1024 * 1024;
    // Two semi-spaces of at most 16 MB each.
    expect(await newSpaceBytes({})).toBeLessThanOrEqual(32 * MB + MB);
    expect(await newSpaceBytes({ NODE_OPTIONS: '--max-semi-space-size=4' })).toBeLessThanOrEqual(8 * MB + MB);
  }, 30_000);
});
