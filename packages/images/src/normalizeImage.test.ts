import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { animatedGif, photoLikeImage, rotatedJpeg, transparentPng, truncatedJpeg } from './testing/imageFixtures.ts';
import { normalizeImage } from './normalizeImage.ts';

describe('normalizeImage', () => {
  it('shrinks the longest side to maxSide and keeps the aspect ratio', async () => {
    const result = await normalizeImage(await photoLikeImage(1024, 768), { maxSide: 256 });
    expect(result).toMatchObject({ output: 'png', width: 256, height: 192, channels: 3 });
    const metadata = await sharp(result.data).metadata();
    expect(metadata).toMatchObject({ format: 'png', width: 256, height: 192, channels: 3 });
  });

  it('never enlarges a small image', async () => {
    const result = await normalizeImage(await photoLikeImage(100, 50), { maxSide: 256 });
    expect(result).toMatchObject({ width: 100, height: 50 });
  });

  it('applies EXIF orientation', async () => {
    expect(await normalizeImage(await rotatedJpeg(64, 48))).toMatchObject({ width: 48, height: 64 });
  });

  it('gives raw RGB bytes with the alpha flattened', async () => {
    const result = await normalizeImage(await transparentPng(64, 48), { output: 'raw', background: '#ffffff' });
    expect(result).toMatchObject({ output: 'raw', width: 64, height: 48, channels: 3 });
    expect(result.data.length).toBe(64 * 48 * 3);
    // The right-most column was fully transparent, so it is the background now.
    const lastPixel = result.data.subarray(result.data.length - 3);
    expect([...lastPixel]).toEqual([255, 255, 255]);
  });

  it('keeps only the first frame of an animation', async () => {
    const result = await normalizeImage(await animatedGif(20, 64, 48), { output: 'raw' });
    expect(result).toMatchObject({ width: 64, height: 48 });
    expect(result.data.length).toBe(64 * 48 * 3);
  });

  it('fails a truncated image with PREPROCESSING_FAILED', async () => {
    await expect(normalizeImage(await truncatedJpeg())).rejects.toMatchObject({ code: 'PREPROCESSING_FAILED' });
  });
});
