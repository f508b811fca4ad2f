import { AppError } from '@inferq/core';
import sharp from 'sharp';
import { defaultImageLimits } from './imageLimits.ts';

export interface NormalizeImageOptions {
  /**
   * Longest side of the result in pixels; larger images shrink to fit, smaller ones keep their size.
   * @defaultValue 1024
   */
  maxSide?: number;
  /**
   * `png` for a file to store, `raw` for interleaved 8-bit RGB pixels to hand to a model.
   * @defaultValue 'png'
   */
  output?: 'png' | 'raw';
  /**
   * Colour that transparent pixels are flattened onto.
   * @defaultValue '#ffffff'
   */
  background?: string;
  /**
   * Pixel limit applied while decoding; pass the limit the image was validated with.
   * @defaultValue {@link defaultImageLimits}.maxPixels
   */
  maxPixels?: number;
}

export interface NormalizedImage {
  data: Buffer;
  output: 'png' | 'raw';
  width: number;
  height: number;
  /** Always 3: RGB, alpha flattened. */
  channels: 3;
}

/**
 * Turns an image (validated beforehand) into one canonical form: first frame only, EXIF
 * orientation applied, sRGB, no alpha, no metadata, longest side at most `maxSide`.
 * @throws AppError `PREPROCESSING_FAILED` when the image cannot be decoded
 */
export async function normalizeImage(bytes: Uint8Array, options: NormalizeImageOptions = {}): Promise<NormalizedImage> {
  const maxSide = options.maxSide ?? 1024;
  const output = options.output ?? 'png';
  if (!Number.isSafeInteger(maxSide) || maxSide < 1)
    throw new RangeError(`maxSide must be a positive integer, got ${maxSide}`);
  try {
    const pipeline = sharp(bytes, {
      failOn: 'error',
      limitInputPixels: options.maxPixels ?? defaultImageLimits.maxPixels,
      pages: 1,
      autoOrient: true,
    })
      .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: options.background ?? '#ffffff' })
      .toColourspace('srgb');
    const encoded = output === 'png' ? pipeline.png() : pipeline.raw({ depth: 'uchar' });
    const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
    return { data, output, width: info.width, height: info.height, channels: 3 };
  } catch (error) {
    throw new AppError('PREPROCESSING_FAILED', 'The image could not be normalized', { cause: error });
  }
}
