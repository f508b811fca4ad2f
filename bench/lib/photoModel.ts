// What `pnpm bench decode` and `pnpm bench resize-graph` share: their flags, the model they run the
// photos through (an aligned-corners RGB image model on ONNX Runtime's CPU provider, one thread, as
// the worker runs it), and the photos as plain JPEGs, the files the worker's decode takes.
import path from 'node:path';
import { jpegFastPath } from '@inferq/images';
import { loadModel, startOnnxRuntime, startTfjsBackend, type OnnxRuntime } from '@inferq/inference';
import { imageInputOf, ModelRegistry } from '@inferq/models';
import { repoRoot } from '@inferq/testing';
import sharp from 'sharp';
import { benchPhotos } from './benchImage.ts';

/** `parseArgs` options: `--photos fixtures|DIR --image 1024x768|native --model nsfw --models-dir DIR --rounds 30`. */
export const photoModelOptions = {
  photos: { type: 'string', default: 'fixtures' },
  image: { type: 'string', default: '1024x768' },
  model: { type: 'string', default: 'nsfw' },
  'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
  rounds: { type: 'string', default: '30' },
} as const;

/** The model, loaded and warmed up on ONNX Runtime's CPU provider with one thread, and its input. */
export async function loadPhotoModel(name: string, modelsDir: string) {
  const quiet = { info: () => {}, warn: () => {} };
  const { manifest, location } = await new ModelRegistry({ root: modelsDir }).resolve(name);
  const input = imageInputOf(manifest);
  if (input.resizeKernel !== 'alignCorners' || input.channels !== 3)
    throw new Error(`${name} does not take aligned-corners RGB pixels, the input the worker's JPEG decode makes`);
  const onnx: OnnxRuntime | null = await startOnnxRuntime({ preferred: 'cpu', intraOpThreads: 1, logger: quiet });
  if (!onnx) throw new Error('ONNX Runtime does not start on this machine');
  const model = await loadModel(location, manifest, {
    engines: { tfjs: await startTfjsBackend({ preferred: 'wasm', logger: quiet }), onnx },
    engine: 'onnxruntime',
  });
  await model.warmUp([1]);
  return { input, model, onnx };
}

/**
 * `benchPhotos(source, size)` as plain JPEGs: a photo the worker's fast path does not take as it is
 * (`--image native`: a PNG or WebP, a JPEG with an ICC profile) is re-encoded as an sRGB JPEG of
 * its own size.
 */
export async function plainJpegPhotos(source: string, size: string): Promise<Array<{ file: string; bytes: Buffer }>> {
  return Promise.all(
    (await benchPhotos(source, size)).map(async ({ file, bytes }) => ({
      file,
      bytes: (await jpegFastPath(bytes, { maxPixels: 100_000_000 }, () => true))
        ? bytes
        : await sharp(bytes).toColourspace('srgb').jpeg({ quality: 90 }).toBuffer(),
    })),
  );
}
