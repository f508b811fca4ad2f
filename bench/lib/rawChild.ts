// One process of the raw model benchmark: the worker's backend and model, nothing else. Driven
// over IPC by rawModel.ts so several processes start each measurement at the same moment.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  loadModel,
  startOnnxRuntime,
  startTfjsBackend,
  type BackendPreference,
  type OnnxProvider,
} from '@inferq/inference';
import { alignCornersResize, imageToInput, inputScaling, preparedToInput, validateImage } from '@inferq/images';
import sharp from 'sharp';
import { imageInputOf, ModelRegistry } from '@inferq/models';
import { photoLikeImage } from '@inferq/images/testing';

/**
 * What one upload costs outside the model: the worker decoding it (`decode`), the worker scaling
 * pixels stored at submit (`prepared`), the API validating it alone (`validate`) or validating
 * and making the model's pixels in the same decode (`validate-pixels`).
 */
export type PreprocessStage = 'decode' | 'prepared' | 'validate' | 'validate-pixels';
export type RawCommand =
  | { cmd: 'predict'; batch: number; ms: number }
  | { cmd: 'preprocess'; stage: PreprocessStage; ms: number; width: number; height: number }
  /** The bare pipeline: each image in turn decoded in full, resized exactly, scaled and run alone. */
  | { cmd: 'bare'; ms: number; images: string[] }
  | { cmd: 'exit' };
export type RawReply =
  | { kind: 'ready'; backend: string; simd: boolean | null }
  | { kind: 'done'; items: number; ms: number }
  | { kind: 'error'; message: string };

const { values } = parseArgs({
  options: {
    'models-dir': { type: 'string' },
    model: { type: 'string' },
    /** `tfjs-<backend>` or `onnxruntime-<provider>`; a bare backend name is TF.js. */
    backend: { type: 'string', default: 'wasm' },
    /** ONNX Runtime intra-op threads. */
    threads: { type: 'string', default: '1' },
    batches: { type: 'string', default: '1' },
  },
});
const send = (reply: RawReply) => process.send!(reply);

try {
  const quiet = { info: () => {}, warn: () => {} };
  const onnx = values.backend.startsWith('onnxruntime-');
  const tfjsBackend = onnx ? 'wasm' : values.backend.replace(/^tfjs-/, '');
  const backend = await startTfjsBackend({ preferred: tfjsBackend as BackendPreference, logger: quiet });
  const onnxRuntime = onnx
    ? await startOnnxRuntime({
        preferred: values.backend.slice('onnxruntime-'.length) as OnnxProvider,
        intraOpThreads: Number(values.threads),
        logger: quiet,
      })
    : null;
  const { manifest, location } = await new ModelRegistry({ root: values['models-dir']! }).resolve(values.model!);
  const model = await loadModel(location, manifest, {
    engines: { tfjs: backend, onnx: onnxRuntime },
    engine: onnx ? 'onnxruntime' : 'tfjs',
  });
  // Warm each batch size once, as the worker warms its model before taking jobs.
  await model.warmUp(values.batches.split(',').map(Number));
  const zeros = new Float32Array(model.inputSize);
  for (let i = 0; i < zeros.length; i++) zeros[i] = (i % 251) / 255;

  process.on('message', async (message: RawCommand) => {
    try {
      if (message.cmd === 'exit') {
        model.dispose();
        process.exit(0);
      }
      if (message.cmd === 'predict') {
        const inputs = Array.from({ length: message.batch }, () => zeros);
        const started = performance.now();
        let items = 0;
        while (performance.now() - started < message.ms) {
          await model.predictBatch(inputs);
          items += message.batch;
        }
        send({ kind: 'done', items, ms: performance.now() - started });
      }
      if (message.cmd === 'bare') {
        // What the platform wraps, in a plain loop: no HTTP, queue or database. sharp's full
        // decode, the exact aligned-corners resize in floats (not rounded) and the scale (/255), in
        // one pass as the worker makes them;
        // a model with another resize gets the platform's own preprocessing.
        const images = message.images.map((file) => readFileSync(file));
        const spec = imageInputOf(manifest);
        const toInput = async (bytes: Buffer) => {
          if (spec.resizeKernel !== 'alignCorners') return imageToInput(bytes, spec);
          const { data, info } = await sharp(bytes, { failOn: 'error', autoOrient: true })
            .removeAlpha()
            .toColourspace('srgb')
            .raw()
            .toBuffer({ resolveWithObject: true });
          return alignCornersResize(
            data,
            info.width,
            info.height,
            info.channels,
            spec.width,
            spec.height,
            inputScaling(spec),
          );
        };
        const started = performance.now();
        let items = 0;
        while (performance.now() - started < message.ms) {
          await model.predictBatch([await toInput(images[items % images.length]!)]);
          items++;
        }
        send({ kind: 'done', items, ms: performance.now() - started });
      }
      if (message.cmd === 'preprocess') {
        // One image at a time, as one job of the worker or one submit of the API.
        const image = await photoLikeImage(message.width, message.height, 'jpeg');
        // `always`: the stored-pixels stages measure the handoff even where the API would not choose it.
        const handoff = { pixels: imageInputOf(manifest), preparePixels: 'always' } as const;
        const { pixels } = await validateImage(image, {}, handoff);
        const stages: Record<PreprocessStage, () => Promise<unknown>> = {
          decode: () => imageToInput(image, imageInputOf(manifest)),
          prepared: async () => preparedToInput(pixels!, imageInputOf(manifest)),
          validate: () => validateImage(image),
          'validate-pixels': () => validateImage(image, {}, handoff),
        };
        const step = stages[message.stage];
        await step();
        const started = performance.now();
        let items = 0;
        while (performance.now() - started < message.ms) {
          await step();
          items++;
        }
        send({ kind: 'done', items, ms: performance.now() - started });
      }
    } catch (error) {
      send({ kind: 'error', message: (error as Error).message });
    }
  });
  send({ kind: 'ready', backend: model.engine, simd: onnx ? null : (backend.wasm?.simd ?? null) });
} catch (error) {
  send({ kind: 'error', message: (error as Error).stack ?? String(error) });
  process.exit(1);
}
