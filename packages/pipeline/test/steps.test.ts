import { describe, expect, it } from 'vitest';
import { pixelSpecKey } from '@inferq/images';
import { validPng } from '@inferq/images/testing';
import { modelManifestSchema, type ModelManifest } from '@inferq/models';
import { PermanentFailure } from '../src/attempt.ts';
import { pixelsOf } from '../src/loadInput.ts';
import { imageInputFor, preprocessImage, preprocessTensors } from '../src/preprocess.ts';
import { recordedOutput } from '../src/record.ts';
import { attemptDeadline, withDeadline } from '../src/run.ts';

/** The steps that touch neither Postgres nor Redis, tested as functions. */

const manifest: ModelManifest = modelManifestSchema.parse({
  name: 'digits',
  version: '1',
  format: 'layers',
  input: { width: 2, height: 2, channels: 1, resize: 'fill', scale: { mode: 'divide', divisor: 255 } },
  output: { kind: 'classification', labels: ['a', 'b'], activation: 'softmax' },
  sha256: 'a'.repeat(64),
  createdAt: new Date().toISOString(),
});
const imageInput = imageInputFor(manifest);

async function codeOf(work: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    return error instanceof PermanentFailure ? error.code : `not permanent: ${(error as Error).message}`;
  }
  return undefined;
}

describe('preprocess', () => {
  it('scales pixels made for this spec, without reading the upload', async () => {
    const pixels = { data: Buffer.from([0, 255, 51, 102]), spec: pixelSpecKey(imageInput) };
    const sources: string[] = [];
    const made = await preprocessImage(
      imageInput,
      pixels,
      () => Promise.reject(new Error('must not be read')),
      (source) => sources.push(source),
    );
    expect(made.source).toBe('prepared');
    expect([...made.input].map((value) => Math.round(value * 1000) / 1000)).toEqual([0, 1, 0.2, 0.4]);
    expect(sources).toEqual(['prepared']);
  });

  it('decodes the upload when the pixels were made for another spec, or there are none', async () => {
    const upload = await validPng(8, 8);
    const stale = { data: Buffer.alloc(3 * 3), spec: 'v1:3x3x1:fill:lanczos3' };
    for (const pixels of [stale, undefined]) {
      const made = await preprocessImage(imageInput, pixels, async () => upload);
      expect(made.source).toBe('decoded');
      expect(made.input).toHaveLength(4);
    }
  });

  it.each([
    [
      'an upload that does not decode',
      () => preprocessImage(imageInput, undefined, async () => Buffer.from('not an image')),
      'PREPROCESSING_FAILED',
    ],
    [
      'an upload that is gone',
      () => preprocessImage(imageInput, undefined, () => Promise.reject(new PermanentFailure('INPUT_MISSING', 'gone'))),
      'INPUT_MISSING',
    ],
    [
      'a stored tensor request that is not one',
      async () => preprocessTensors(Buffer.from('\x89PNG')),
      'MODEL_KIND_MISMATCH',
    ],
    [
      'an image for a tensor model',
      async () => imageInputFor({ ...manifest, input: undefined } as unknown as ModelManifest),
      'MODEL_KIND_MISMATCH',
    ],
  ])('%s fails for good with its code', async (_name, work, code) => {
    expect(await codeOf(work)).toBe(code);
  });

  it('uses the pixels handed over first, then those stored with the input', () => {
    const handed = { data: Buffer.from([1]), spec: 'a' };
    const stored = { pixels: Buffer.from([2]), pixelsSpec: 'b' };
    expect(pixelsOf({ handed, ...stored })).toBe(handed);
    expect(pixelsOf({ ...stored })).toEqual({ data: stored.pixels, spec: 'b' });
    expect(pixelsOf({ pixels: null, pixelsSpec: null })).toBeUndefined();
  });
});

describe('run', () => {
  it.each([
    ['the model limit', { limits: { timeoutMs: 500 } }, null, 60_000, 500, 'TIMEOUT'],
    ['the worker default', {}, null, 2000, 2000, 'TIMEOUT'],
    ['a tighter Cancel-After', { limits: { timeoutMs: 500 } }, 100, undefined, 100, 'DEADLINE_EXCEEDED'],
    ['a looser Cancel-After', {}, 5000, 2000, 2000, 'TIMEOUT'],
  ] as const)('deadline from %s', (_name, model, cancelAfterMs, jobTimeoutMs, ms, code) => {
    const deadline = attemptDeadline(model as Pick<ModelManifest, 'limits'>, cancelAfterMs, jobTimeoutMs);
    expect(deadline.ms).toBe(ms);
    expect(deadline.failure().code).toBe(code);
  });

  it('fails work that outlives its deadline, and passes work that does not', async () => {
    const late = new Promise((resolve) => setTimeout(resolve, 200, 'late'));
    expect(await codeOf(withDeadline(late, 20, () => new PermanentFailure('TIMEOUT', 'slow')))).toBe('TIMEOUT');
    expect(await withDeadline(Promise.resolve('early'), 1000, () => new PermanentFailure('TIMEOUT', 'slow'))).toBe(
      'early',
    );
  });

  it('counts work that settles after its deadline as timed out, even if the timer could not fire', async () => {
    // Starts once withDeadline has begun timing: a synchronous model call holding the event loop.
    const blocking = Promise.resolve().then(() => {
      const until = performance.now() + 40;
      while (performance.now() < until);
      return 'done';
    });
    expect(await codeOf(withDeadline(blocking, 10, () => new PermanentFailure('TIMEOUT', 'slow')))).toBe('TIMEOUT');
  });
});

describe('record', () => {
  it('stores an image model its scores and top labels', () => {
    const recorded = recordedOutput(
      { manifest },
      { vector: [0.25, 0.75], inferenceMs: 1, batchSize: 1, batchWaitMs: 0, engine: 'test' },
    );
    expect(recorded.output).toEqual([[0.25, 0.75]]);
    expect(recorded.labels).toEqual([expect.objectContaining({ label: 'b' }), expect.objectContaining({ label: 'a' })]);
  });
});
