import { describe, expect, it } from 'vitest';
import sharp, { type Sharp } from 'sharp';
import { makeModelPixels, toModelPixels, type PixelSpec } from './modelPixels.ts';
import { photoLikeImage, rotatedJpeg, transparentPng, validAvif, validGif, validTiff } from './testing/imageFixtures.ts';

const input = { failOn: 'error', sequentialRead: true, pages: 1, page: 0, autoOrient: true } as const;

/**
 * The grey pixels as sharp makes them with `greyscale()` and its default sRGB output: three equal
 * bands, of which raw output keeps the first. What the pixel pipeline wrote before it asked for b-w
 * output, and what stored pixels and reference scores were made with.
 */
function greyscaleThroughSrgb(image: Sharp, spec: PixelSpec): Sharp {
  return image
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .resize(spec.width, spec.height, {
      fit: spec.resize,
      position: 'centre',
      background: { r: 0, g: 0, b: 0, alpha: 1 },
      kernel: spec.resizeKernel as Exclude<PixelSpec['resizeKernel'], 'alignCorners'>,
      fastShrinkOnLoad: spec.resizeKernel !== 'nearest',
    })
    .greyscale()
    .removeAlpha()
    .raw({ depth: 'uchar' });
}

async function images(): Promise<Array<[string, Buffer]>> {
  const photo = await photoLikeImage(333, 211);
  return [
    ['JPEG', photo],
    ['PNG with alpha', await transparentPng(90, 60)],
    ['WebP', await photoLikeImage(97, 61, 'webp')],
    ['GIF', await validGif(80, 50)],
    ['AVIF', await validAvif(80, 50)],
    ['TIFF', await validTiff(80, 50)],
    ['EXIF-rotated JPEG', await rotatedJpeg(64, 48)],
    ['16-bit PNG', await sharp(await photoLikeImage(120, 90, 'png')).toColourspace('rgb16').png().toBuffer()],
    ['CMYK JPEG', await sharp(photo).toColourspace('cmyk').jpeg().toBuffer()],
    ['Display P3 JPEG', await sharp(photo).withIccProfile('p3').jpeg().toBuffer()],
    ['grey JPEG', await sharp(photo).greyscale().jpeg().toBuffer()],
  ];
}

describe('grey model pixels', () => {
  const kernels = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'] as const;
  const fits = ['fill', 'cover', 'contain'] as const;

  it("are byte for byte sharp's greyscale() through sRGB, for every format, kernel and fit", async () => {
    let compared = 0;
    for (const [name, bytes] of await images()) {
      for (const resizeKernel of kernels) {
        for (const resize of fits) {
          for (const [width, height] of [[28, 28], [64, 48]] as const) {
            const spec: PixelSpec = { width, height, channels: 1, resize, resizeKernel };
            const made = await toModelPixels(sharp(bytes, input), spec).toBuffer({ resolveWithObject: true });
            const reference = await greyscaleThroughSrgb(sharp(bytes, input), spec).toBuffer({ resolveWithObject: true });
            expect(made.info, `${name}, ${resizeKernel}, ${resize}, ${width}×${height}`).toMatchObject({ width, height, channels: 1 });
            expect(made.data.equals(reference.data), `${name}, ${resizeKernel}, ${resize}, ${width}×${height}`).toBe(true);
            compared++;
          }
        }
      }
    }
    expect(compared).toBe(11 * kernels.length * fits.length * 2);
  });

  it("are byte for byte sharp's greyscale() through sRGB before an aligned-corners resize", async () => {
    for (const [name, bytes] of await images()) {
      const spec: PixelSpec = { width: 32, height: 32, channels: 1, resize: 'fill', resizeKernel: 'alignCorners' };
      const made = await makeModelPixels(sharp(bytes, input), spec);
      const full = await sharp(bytes, input).flatten({ background: { r: 255, g: 255, b: 255 } }).greyscale().removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const again = await makeModelPixels(sharp(full.data, { raw: { width: full.info.width, height: full.info.height, channels: 1 } }), spec);
      expect(Buffer.from(made.data.buffer).equals(Buffer.from(again.data.buffer)), name).toBe(true);
    }
  });
});
