import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { AppError } from '@inferq/core';
import { startTfjsBackend } from '../src/index.ts';

const quiet = { info() {}, warn() {} };
const require = createRequire(import.meta.url);
function installed(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}
const hasNativeBackends = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');

describe('startTfjsBackend', () => {
  it('starts wasm with SIMD and leaves the process error handlers as they were', async () => {
    const before = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
    const info = await startTfjsBackend({ preferred: 'wasm', logger: quiet });
    expect(info).toMatchObject({ name: 'wasm', tfjsBackend: 'wasm', wasm: { simd: true, threads: 1 }, skipped: [] });
    expect(info.versions['tfjs-backend-wasm']).toBe('4.22.0');
    expect(tf.getBackend()).toBe('wasm');
    expect([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')]).toEqual(before);
  });

  it.skipIf(hasNativeBackends)('auto skips the tfjs-node packages that are not installed, saying why', async () => {
    const warnings: object[] = [];
    const info = await startTfjsBackend({
      preferred: 'auto',
      logger: { info() {}, warn: (fields) => warnings.push(fields) },
    });
    expect(info.name).toBe('wasm');
    expect(info.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(info.skipped[0]?.reason).toContain('ERR_MODULE_NOT_FOUND');
    expect(warnings).toHaveLength(2);
  });

  it.skipIf(hasNativeBackends)(
    'fails with MODEL_NOT_READY when a named backend cannot start, and keeps the old one',
    async () => {
      await startTfjsBackend({ preferred: 'wasm', logger: quiet });
      const error = await startTfjsBackend({ preferred: 'tensorflow', logger: quiet }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('MODEL_NOT_READY');
      expect((error as AppError).details).toMatchObject({ preferred: 'tensorflow', skipped: [{ name: 'tensorflow' }] });
      expect(tf.getBackend()).toBe('wasm');
    },
  );

  it('switches to the cpu backend', async () => {
    const info = await startTfjsBackend({ preferred: 'cpu', logger: quiet });
    expect(info.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await tf.tidy(() => tf.add(tf.scalar(2), tf.scalar(3))).data()).toEqual(new Float32Array([5]));
  });
});
