import sharp from 'sharp';
import { AppError } from '@inferq/core';
import { makeModelPixels, pixelSpecKey, storedPixelValues, type ModelPixels, type PreparedPixels } from '@inferq/images';
import type { InputScale, ModelInput } from '@inferq/models';

export interface ImageToInputOptions {
  /**
   * Refuse images with more pixels than this before decoding them (a decompression bomb guard).
   * @defaultValue 100_000_000
   */
  limitInputPixels?: number;
}

/**
 * Turns encoded image bytes into one model input: decode the first frame, orient per EXIF, make
 * the model's pixels ({@link makeModelPixels}), then scale each value per `input.scale`. Returns
 * height × width × channels floats in row-major HWC order, the layout of an NHWC tensor.
 * Throws PREPROCESSING_FAILED when sharp cannot decode the bytes.
 */
export async function imageToInput(bytes: Buffer | Uint8Array, input: ModelInput, options: ImageToInputOptions = {}): Promise<Float32Array> {
  let raw: ModelPixels;
  try {
    const image = sharp(bytes, { pages: 1, autoOrient: true, failOn: 'error', limitInputPixels: options.limitInputPixels ?? 100_000_000 });
    raw = await makeModelPixels(image, input);
  } catch (error) {
    throw new AppError('PREPROCESSING_FAILED', `cannot decode image: ${(error as Error).message}`, { cause: error });
  }
  const { width, height, channels } = raw;
  if (width !== input.width || height !== input.height || channels !== input.channels) {
    throw new AppError('PREPROCESSING_FAILED', `decoded to ${width}×${height}×${channels}, expected ${input.width}×${input.height}×${input.channels}`);
  }
  return pixelsToInput(raw.data, input);
}

/**
 * Model input from pixels the API prepared at upload ({@link PreparedPixels}), or undefined when
 * they were made for another spec (the model's input changed since) or are not whole: the caller
 * then decodes the upload with {@link imageToInput}.
 */
export function preparedToInput(prepared: PreparedPixels, input: ModelInput): Float32Array | undefined {
  if (prepared.spec !== pixelSpecKey(input)) return undefined;
  const values = storedPixelValues(prepared.data, input, input.width * input.height * input.channels);
  return values && pixelsToInput(values, input);
}

/**
 * Scales interleaved pixels (RGB or grey; bytes as sharp's raw output, or 0..255 floats from the
 * `alignCorners` resize) into model input values in one pass: `out = pixel * a[c] + b[c]`,
 * reordering to BGR when the model wants it.
 */
export function pixelsToInput(pixels: Uint8Array | Float32Array, input: Pick<ModelInput, 'channels' | 'scale' | 'channelOrder'>): Float32Array {
  const { channels } = input;
  if (pixels.length % channels !== 0) throw new AppError('PREPROCESSING_FAILED', `${pixels.length} bytes are not whole ${channels}-channel pixels`);
  const [a, b] = affineFor(input.scale, channels);
  const out = new Float32Array(pixels.length);
  const n = pixels.length;
  if (channels === 1) {
    const a0 = a[0] as number;
    const b0 = b[0] as number;
    for (let i = 0; i < n; i++) out[i] = (pixels[i] as number) * a0 + b0;
    return out;
  }
  const [a0, a1, a2] = a as [number, number, number];
  const [b0, b1, b2] = b as [number, number, number];
  // Source channel feeding each output slot: identity for RGB, reversed for BGR.
  const [s0, s2] = input.channelOrder === 'bgr' ? [2, 0] : [0, 2];
  for (let i = 0; i < n; i += 3) {
    out[i] = (pixels[i + s0] as number) * a0 + b0;
    out[i + 1] = (pixels[i + 1] as number) * a1 + b1;
    out[i + 2] = (pixels[i + s2] as number) * a2 + b2;
  }
  return out;
}

/** Per-channel multiplier and offset for a scale mode; mean/std are in the model's channel order. */
function affineFor(scale: InputScale, channels: number): [number[], number[]] {
  const a: number[] = [];
  const b: number[] = [];
  for (let c = 0; c < channels; c++) {
    switch (scale.mode) {
      case 'divide':
        a.push(1 / scale.divisor);
        b.push(0);
        break;
      case 'centered':
        a.push(1 / 127.5);
        b.push(-1);
        break;
      case 'meanStd': {
        const mean = scale.mean[c] ?? 0;
        const std = scale.std[c] ?? 1;
        a.push(1 / (255 * std));
        b.push(-mean / std);
        break;
      }
    }
  }
  return [a, b];
}
