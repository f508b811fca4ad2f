import { describe, expect, it } from 'vitest';
import sharp, { type Sharp } from 'sharp';
import { AppError } from '@inferq/core';
import type { ModelInput } from '@inferq/models';
import { validateImage } from './imageValidator.ts';
import {
  alignCornersResize,
  imageToInput,
  inputScaling,
  makeModelPixels,
  pixelSpecKey,
  pixelsToInput,
  preparedToInput,
  toModelPixels,
  type PixelSpec,
} from './modelInput.ts';
import {
  alignedBgrInput,
  alignedRgbInput,
  animatedGif,
  drawingImage,
  photoLikeImage,
  rotatedJpeg,
  transparentPng,
  validAvif,
  validGif,
  validTiff,
} from './testing/imageFixtures.ts';

const decodeOptions = { failOn: 'error', sequentialRead: true, pages: 1, page: 0, autoOrient: true } as const;

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
    [
      '16-bit PNG',
      await sharp(await photoLikeImage(120, 90, 'png'))
        .toColourspace('rgb16')
        .png()
        .toBuffer(),
    ],
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
          for (const [width, height] of [
            [28, 28],
            [64, 48],
          ] as const) {
            const spec: PixelSpec = { width, height, channels: 1, resize, resizeKernel };
            const made = await toModelPixels(sharp(bytes, decodeOptions), spec).toBuffer({ resolveWithObject: true });
            const reference = await greyscaleThroughSrgb(sharp(bytes, decodeOptions), spec).toBuffer({
              resolveWithObject: true,
            });
            expect(made.info, `${name}, ${resizeKernel}, ${resize}, ${width}×${height}`).toMatchObject({
              width,
              height,
              channels: 1,
            });
            expect(made.data.equals(reference.data), `${name}, ${resizeKernel}, ${resize}, ${width}×${height}`).toBe(
              true,
            );
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
      const made = await makeModelPixels(sharp(bytes, decodeOptions), spec);
      const full = await sharp(bytes, decodeOptions)
        .flatten({ background: { r: 255, g: 255, b: 255 } })
        .greyscale()
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      const again = await makeModelPixels(
        sharp(full.data, { raw: { width: full.info.width, height: full.info.height, channels: 1 } }),
        spec,
      );
      expect(Buffer.from(made.data.buffer).equals(Buffer.from(again.data.buffer)), name).toBe(true);
    }
  });
});

const rgb01: ModelInput = {
  width: 4,
  height: 4,
  channels: 3,
  resize: 'fill',
  resizeKernel: 'lanczos3',
  scale: { mode: 'divide', divisor: 255 },
  channelOrder: 'rgb',
  layout: 'nhwc',
};

function solid(
  width: number,
  height: number,
  background: { r: number; g: number; b: number; alpha?: number },
  channels: 3 | 4 = 3,
) {
  return sharp({ create: { width, height, channels, background } });
}

/** The value at (x, y, channel) of an HWC input. */
function at(input: Float32Array, spec: ModelInput, x: number, y: number, c: number): number {
  return input[(y * spec.width + x) * spec.channels + c] as number;
}

describe('imageToInput', () => {
  it('decodes, resizes and scales an RGB image to width × height × 3 in [0, 1]', async () => {
    const png = await solid(10, 7, { r: 255, g: 0, b: 51 }).png().toBuffer();
    const input = await imageToInput(png, rgb01);
    expect(input).toHaveLength(4 * 4 * 3);
    for (let i = 0; i < 16; i++)
      expect([input[i * 3], input[i * 3 + 1], input[i * 3 + 2]]).toEqual([1, 0, expect.closeTo(0.2, 6)]);
  });

  it('flattens transparency onto white', async () => {
    const png = await solid(5, 5, { r: 0, g: 0, b: 0, alpha: 0 }, 4).png().toBuffer();
    const input = await imageToInput(png, rgb01);
    expect(Math.min(...input)).toBe(1);
  });

  it('makes one channel for greyscale models', async () => {
    const png = await solid(8, 8, { r: 255, g: 255, b: 255 }).png().toBuffer();
    const input = await imageToInput(png, { ...rgb01, channels: 1 });
    expect(input).toHaveLength(16);
    expect([...input].every((v) => v === 1)).toBe(true);
  });

  it('pads with black for contain and crops for cover', async () => {
    // 4×1 white strip: contain keeps it whole in the middle rows, cover fills the square with it.
    const png = await solid(40, 10, { r: 255, g: 255, b: 255 }).png().toBuffer();
    const contain = await imageToInput(png, { ...rgb01, resize: 'contain' });
    expect(at(contain, rgb01, 0, 0, 0)).toBe(0);
    expect(at(contain, rgb01, 0, 3, 0)).toBe(0);
    expect(at(contain, rgb01, 1, 1, 0)).toBeGreaterThan(0.5);
    const cover = await imageToInput(png, { ...rgb01, resize: 'cover' });
    expect(Math.min(...cover)).toBe(1);
  });

  it.each([
    ['nearest', [0, 1]],
    ['lanczos3', [0.5]],
  ] as const)('resizes with the %s kernel', async (resizeKernel, values) => {
    // A one-pixel black/white checkerboard shrunk 4×: point sampling keeps pure black and white,
    // a smoothing kernel averages to grey.
    const raw = Buffer.alloc(16 * 16);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) raw[y * 16 + x] = (x + y) % 2 === 0 ? 255 : 0;
    const png = await sharp(raw, { raw: { width: 16, height: 16, channels: 1 } })
      .png()
      .toBuffer();
    const input = await imageToInput(png, { ...rgb01, channels: 1, resizeKernel });
    const seen = [...new Set([...input].map((v) => Number(v.toFixed(1))))];
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((v) => (values as readonly number[]).includes(v))).toBe(true);
  });

  it('applies the EXIF orientation before resizing', async () => {
    // Left half red, right half blue; orientation 6 means "rotate 90° clockwise to display",
    // which puts red on top.
    const raw = Buffer.alloc(8 * 8 * 3);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) raw.set(x < 4 ? [255, 0, 0] : [0, 0, 255], (y * 8 + x) * 3);
    const jpeg = await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const input = await imageToInput(jpeg, rgb01);
    expect(at(input, rgb01, 1, 0, 0)).toBeGreaterThan(0.8);
    expect(at(input, rgb01, 1, 0, 2)).toBeLessThan(0.2);
    expect(at(input, rgb01, 1, 3, 2)).toBeGreaterThan(0.8);
  });

  it('takes the first frame of an animation', async () => {
    // Two 4×4 frames stacked: red, then blue.
    const raw = Buffer.alloc(4 * 8 * 3);
    for (let i = 0; i < 32; i++) raw.set(i < 16 ? [255, 0, 0] : [0, 0, 255], i * 3);
    const gif = await sharp(raw, { raw: { width: 4, height: 8, channels: 3, pageHeight: 4 } })
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const input = await imageToInput(gif, rgb01);
    expect(input).toHaveLength(48);
    expect(at(input, rgb01, 2, 2, 0)).toBeGreaterThan(0.9);
  });

  it('reads 16-bit images as 8-bit values', async () => {
    const png16 = await solid(4, 4, { r: 255, g: 255, b: 255 }).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    expect(Math.max(...(await imageToInput(png16, rgb01)))).toBe(1);
  });

  it.each([
    ['random bytes', Buffer.from('definitely not an image')],
    ['an empty buffer', Buffer.alloc(0)],
  ])('answers PREPROCESSING_FAILED for %s', async (_case, bytes) => {
    const error = await imageToInput(bytes, rgb01).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('PREPROCESSING_FAILED');
  });

  it('answers PREPROCESSING_FAILED for an image over the pixel limit', async () => {
    const png = await solid(100, 100, { r: 1, g: 2, b: 3 }).png().toBuffer();
    const error = await imageToInput(png, rgb01, { limitInputPixels: 5000 }).catch((e: unknown) => e);
    expect((error as AppError).code).toBe('PREPROCESSING_FAILED');
  });
});

describe('preparedToInput: pixels made by the validating decode at submit', () => {
  const nsfwLike: ModelInput = {
    width: 224,
    height: 224,
    channels: 3,
    resize: 'cover',
    resizeKernel: 'lanczos3',
    scale: { mode: 'divide', divisor: 255 },
    channelOrder: 'rgb',
    layout: 'nhwc',
  };
  const mnistLike: ModelInput = {
    width: 28,
    height: 28,
    channels: 1,
    resize: 'contain',
    resizeKernel: 'nearest',
    scale: { mode: 'centered' },
    channelOrder: 'rgb',
    layout: 'nhwc',
  };
  const bgrMeanStd: ModelInput = {
    width: 64,
    height: 48,
    channels: 3,
    resize: 'fill',
    resizeKernel: 'linear',
    scale: { mode: 'meanStd', mean: [0.4, 0.45, 0.5], std: [0.2, 0.25, 0.3] },
    channelOrder: 'bgr',
    layout: 'nhwc',
  };
  // Aligned-corners specs: the worker resizes and scales in one pass, the API's stored pixels are
  // scaled after; both must give the same values, bit for bit.
  const alignedRgb = alignedRgbInput;
  const alignedBgr = alignedBgrInput;
  const alignedGrey: ModelInput = {
    width: 28,
    height: 28,
    channels: 1,
    resize: 'fill',
    resizeKernel: 'alignCorners',
    scale: { mode: 'centered' },
    channelOrder: 'rgb',
    layout: 'nhwc',
  };
  const uploads: Array<[string, () => Promise<Buffer>]> = [
    ['a 1024×768 JPEG (shrink-on-load)', () => photoLikeImage(1024, 768, 'jpeg')],
    ['a WebP', () => photoLikeImage(640, 480, 'webp')],
    ['an RGBA PNG drawing', () => drawingImage(640, 480)],
    ['a transparent PNG', () => transparentPng(96, 64)],
    ['a rotated JPEG (EXIF 6)', () => rotatedJpeg(96, 64)],
    ['a GIF', () => validGif(64, 48)],
    ['an animated GIF (first frame)', () => animatedGif(5, 64, 48)],
    ['an AVIF', () => validAvif(64, 48)],
    ['a TIFF', () => validTiff(64, 48)],
  ];

  it.each(uploads)("gives exactly the worker's own decode for %s", async (_, make) => {
    const bytes = await make();
    for (const input of [nsfwLike, mnistLike, bgrMeanStd, alignedRgb, alignedBgr, alignedGrey]) {
      const { pixels } = await validateImage(bytes, {}, { pixels: input, preparePixels: 'always' });
      expect(pixels?.spec).toBe(pixelSpecKey(input));
      expect(preparedToInput(pixels!, input)).toEqual(await imageToInput(bytes, input));
    }
  });

  it('declines pixels made for another spec or of the wrong length, so the worker decodes instead', async () => {
    const { pixels } = await validateImage(
      await photoLikeImage(320, 240),
      {},
      { pixels: nsfwLike, preparePixels: 'always' },
    );
    expect(preparedToInput(pixels!, { ...nsfwLike, resize: 'contain' })).toBeUndefined();
    expect(preparedToInput(pixels!, { ...nsfwLike, resizeKernel: 'nearest' })).toBeUndefined();
    expect(preparedToInput(pixels!, { ...nsfwLike, width: 299, height: 299 })).toBeUndefined();
    expect(preparedToInput({ data: pixels!.data.subarray(0, 100), spec: pixels!.spec }, nsfwLike)).toBeUndefined();
    // Scale and channel order apply after the pixels: the same stored pixels serve both.
    expect(preparedToInput(pixels!, { ...nsfwLike, scale: { mode: 'centered' }, channelOrder: 'bgr' })).toHaveLength(
      224 * 224 * 3,
    );
  });
});

describe('pixelsToInput', () => {
  const pixels = Uint8Array.from([0, 127.5, 255, 255, 0, 51]);

  it.each([
    ['divide', { mode: 'divide', divisor: 255 }, 'rgb', [0, 0.498, 1, 1, 0, 0.2]],
    ['centered', { mode: 'centered' }, 'rgb', [-1, -0.004, 1, 1, -1, -0.6]],
    ['meanStd', { mode: 'meanStd', mean: [0.5, 0.5, 0], std: [0.5, 0.25, 1] }, 'rgb', [-1, -0.008, 1, 1, -2, 0.2]],
    ['divide, BGR', { mode: 'divide', divisor: 255 }, 'bgr', [1, 0.498, 0, 0.2, 0, 1]],
  ] as const)('scales with %s', (_case, scale, channelOrder, expected) => {
    const out = pixelsToInput(pixels, {
      channels: 3,
      scale: structuredClone(scale) as ModelInput['scale'],
      channelOrder,
    });
    expect([...out].map((v) => Number(v.toFixed(3)))).toEqual(expected);
  });

  it('scales one channel', () => {
    expect([
      ...pixelsToInput(Uint8Array.from([0, 255]), { channels: 1, scale: { mode: 'centered' }, channelOrder: 'rgb' }),
    ]).toEqual([-1, 1]);
  });
});

describe('alignCornersResize', () => {
  /** TF's resizeBilinear(alignCorners) written plainly: one output value at a time. */
  function reference(
    src: Uint8Array,
    inW: number,
    inH: number,
    channels: number,
    outW: number,
    outH: number,
  ): Float32Array {
    const out = new Float32Array(outW * outH * channels);
    const scaleY = (inH - 1) / (outH - 1);
    const scaleX = (inW - 1) / (outW - 1);
    for (let y = 0; y < outH; y++) {
      const y0 = Math.floor(y * scaleY);
      const y1 = Math.min(y0 + 1, inH - 1);
      const fy = y * scaleY - y0;
      for (let x = 0; x < outW; x++) {
        const x0 = Math.floor(x * scaleX);
        const x1 = Math.min(x0 + 1, inW - 1);
        const fx = Math.fround(x * scaleX - x0);
        for (let c = 0; c < channels; c++) {
          const at = (yy: number, xx: number) => src[(yy * inW + xx) * channels + c] as number;
          const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
          const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
          out[(y * outW + x) * channels + c] = top + (bottom - top) * fy;
        }
      }
    }
    return out;
  }
  const noise = (length: number) => Uint8Array.from({ length }, (_, i) => (i * 2654435761) >>> 24);

  it.each([
    [3, 97, 61, 17, 13],
    [3, 1024, 768, 224, 224],
    [1, 53, 41, 28, 28],
    [4, 31, 29, 9, 7],
  ])("gives TF's values bit for bit (%i channels, %i×%i → %i×%i)", (channels, inW, inH, outW, outH) => {
    const src = noise(inW * inH * channels);
    expect(alignCornersResize(src, inW, inH, channels, outW, outH)).toEqual(
      reference(src, inW, inH, channels, outW, outH),
    );
  });

  it('scales and reorders in the same pass exactly as pixelsToInput does after it', () => {
    const src = noise(97 * 61 * 3);
    for (const input of [
      { channels: 3, scale: { mode: 'divide', divisor: 255 }, channelOrder: 'rgb' },
      { channels: 3, scale: { mode: 'meanStd', mean: [0.4, 0.45, 0.5], std: [0.2, 0.25, 0.3] }, channelOrder: 'bgr' },
    ] as const) {
      const spec = structuredClone(input) as unknown as Pick<ModelInput, 'channels' | 'scale' | 'channelOrder'>;
      expect(alignCornersResize(src, 97, 61, 3, 17, 13, inputScaling(spec))).toEqual(
        pixelsToInput(alignCornersResize(src, 97, 61, 3, 17, 13), spec),
      );
    }
  });
});
