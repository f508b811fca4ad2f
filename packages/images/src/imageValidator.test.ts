import { createHash } from 'node:crypto';
import { AppError, type ErrorCode } from '@inferq/core';
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import {
  animatedGif,
  bmpFile,
  decompressionBomb,
  drawingImage,
  emptyFile,
  heicFile,
  hugeExifJpeg,
  pdfFile,
  photoLikeImage,
  pixelBomb,
  pngWithCorruptChunk,
  polyglotGifHtml,
  polyglotJpegZip,
  rotatedJpeg,
  svgFile,
  textFile,
  tinyImage,
  transparentPng,
  truncatedJpeg,
  validAvif,
  validGif,
  validJpeg,
  validPng,
  validTiff,
  validWebp,
} from './testing/imageFixtures.ts';
import {
  decodableImageFormats,
  validateImage,
  type InvalidImageReason,
  type ValidatedImage,
  type ValidateImageOptions,
} from './imageValidator.ts';
import { pixelSpecKey, pixelsWorthStoring, type PixelSpec } from './modelInput.ts';
import { defaultImageLimits, resolveImageLimits, type ImageLimits } from './imageLimits.ts';
import { useJpegDecoder } from './turboJpeg.ts';

type Fixture = () => Buffer | Promise<Buffer>;

/** Runs the validator and hands back its refusal; a resolved validation fails the test. */
async function refusal(
  bytes: Buffer,
  limits: Partial<ImageLimits> = {},
  options: ValidateImageOptions = {},
): Promise<AppError> {
  try {
    const accepted = await validateImage(bytes, limits, options);
    throw new Error(`expected a refusal, got ${JSON.stringify(accepted)}`);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
}

const MiB = 1024 * 1024;
/** A model input as the API asks for it: the validating decode then also makes these pixels. */
const modelSpec: PixelSpec = { width: 224, height: 224, channels: 3, resize: 'cover', resizeKernel: 'lanczos3' };

describe('validateImage accepts', () => {
  // The validator never sees a file name; each case names the upload as a client might, wrongly,
  // to make the point that the format comes from the bytes.
  const cases: { upload: string; make: Fixture; expected: Partial<ValidatedImage> }[] = [
    {
      upload: 'photo.png (JPEG bytes)',
      make: () => validJpeg(64, 48),
      expected: { format: 'jpeg', width: 64, height: 48, channels: 3, hasAlpha: false },
    },
    {
      upload: 'photo.jpg (PNG bytes)',
      make: () => validPng(64, 48),
      expected: { format: 'png', width: 64, height: 48, channels: 3, hasAlpha: false },
    },
    {
      upload: 'photo.gif (WebP bytes)',
      make: () => validWebp(80, 60),
      expected: { format: 'webp', width: 80, height: 60, channels: 3, hasAlpha: false },
    },
    {
      upload: 'photo.webp (GIF bytes)',
      make: () => validGif(64, 48),
      expected: { format: 'gif', width: 64, height: 48 },
    },
    {
      upload: 'photo.heic (AVIF bytes)',
      make: () => validAvif(64, 48),
      expected: { format: 'avif', width: 64, height: 48, channels: 3, hasAlpha: false },
    },
    {
      upload: 'photo.jpeg (TIFF bytes)',
      make: () => validTiff(64, 48),
      expected: { format: 'tiff', width: 64, height: 48, channels: 3, hasAlpha: false },
    },
    {
      upload: 'logo.jpg (RGBA PNG)',
      make: () => transparentPng(64, 48),
      expected: { format: 'png', width: 64, height: 48, channels: 4, hasAlpha: true },
    },
    {
      upload: 'drawing.png',
      make: () => drawingImage(640, 480),
      expected: { format: 'png', width: 640, height: 480, channels: 4, hasAlpha: true },
    },
    {
      upload: 'photo.jpg',
      make: () => photoLikeImage(1024, 768, 'jpeg'),
      expected: { format: 'jpeg', width: 1024, height: 768, channels: 3 },
    },
    {
      upload: 'photo.webp',
      make: () => photoLikeImage(320, 240, 'webp'),
      expected: { format: 'webp', width: 320, height: 240 },
    },
    // EXIF orientation 6: stored 64×48, shown 48×64; the dimensions are the shown ones.
    { upload: 'portrait.jpg', make: () => rotatedJpeg(64, 48), expected: { format: 'jpeg', width: 48, height: 64 } },
    {
      upload: 'animation.gif (500 frames)',
      make: () => animatedGif(500, 64, 48),
      expected: { format: 'gif', width: 64, height: 48, pages: 500 },
    },
    { upload: 'exact minimum 32×32', make: () => validPng(32, 32), expected: { format: 'png', width: 32, height: 32 } },
    {
      upload: 'exact maximum width 8192×32',
      make: () => validPng(8192, 32),
      expected: { format: 'png', width: 8192, height: 32 },
    },
  ];

  it.each(cases)('$upload as $expected.format', async ({ make, expected }) => {
    const bytes = await make();
    const image = await validateImage(bytes);
    expect(image).toMatchObject(expected);
    // Stored as uploaded, with the metadata kept; by default private metadata (the portrait's
    // EXIF) is cut out of what is stored (imageMetadata.test.ts).
    const kept = await validateImage(bytes, {}, { keepMetadata: true });
    expect(kept.bytes).toBe(bytes.length);
    expect(kept.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    if (expected.pages === undefined) expect(image.pages).toBeUndefined();
    expect(image.pixels).toBeUndefined();
    // Asked for a model's pixels, the same validation also hands them back.
    const prepared = await validateImage(bytes, {}, { pixels: modelSpec, preparePixels: 'always' });
    expect(prepared).toMatchObject(expected);
    expect(prepared.pixels?.spec).toBe(pixelSpecKey(modelSpec));
    expect(prepared.pixels?.data).toHaveLength(224 * 224 * 3);
  });

  it('accepts a JPEG with a ZIP appended but keeps only the JPEG: the payload is never stored or served', async () => {
    const polyglot = await polyglotJpegZip();
    const jpeg = await validJpeg(64, 48);
    const image = await validateImage(polyglot);
    expect(image).toMatchObject({
      format: 'jpeg',
      width: 64,
      height: 48,
      bytes: jpeg.length,
      droppedBytes: polyglot.length - jpeg.length,
    });
    expect(image.data.equals(jpeg)).toBe(true);
    expect(image.sha256).toBe(createHash('sha256').update(jpeg).digest('hex'));
  });

  it('takes a Uint8Array view as well as a Buffer', async () => {
    const png = await validPng(40, 40);
    const view = new Uint8Array(png.buffer.slice(png.byteOffset, png.byteOffset + png.length));
    await expect(validateImage(view)).resolves.toMatchObject({
      format: 'png',
      width: 40,
      height: 40,
      bytes: png.length,
    });
  });

  it('takes huge metadata when the bound is raised above it', async () => {
    const jpeg = await hugeExifJpeg(2 * MiB);
    await expect(validateImage(jpeg, { maxMetadataBytes: 3 * MiB })).resolves.toMatchObject({
      format: 'jpeg',
      width: 64,
      height: 48,
    });
  });

  it('takes a format at every limit exactly (bounds are inclusive)', async () => {
    const png = await validPng(100, 50);
    await expect(
      validateImage(png, {
        maxBytes: png.length,
        maxPixels: 5000,
        minWidth: 100,
        maxWidth: 100,
        minHeight: 50,
        maxHeight: 50,
      }),
    ).resolves.toMatchObject({ width: 100, height: 50 });
  });
});

describe('model pixels made while validating', () => {
  it("are worth storing where the check decodes every pixel, when small or from twice the input's pixels", () => {
    // MNIST's 28×28 grey input: 784 bytes; as exact floats, four times that.
    const digit: PixelSpec = { width: 28, height: 28, channels: 1, resize: 'contain', resizeKernel: 'nearest' };
    const digitFloats: PixelSpec = { ...digit, resize: 'fill', resizeKernel: 'alignCorners' };
    // Not a JPEG's (a DCT-domain check at 1/8): the worker decodes it, whatever the size.
    expect(pixelsWorthStoring(1024, 768, modelSpec, false)).toBe(false);
    expect(pixelsWorthStoring(32, 32, digit, false)).toBe(false);
    expect(pixelsWorthStoring(256, 256, modelSpec, true)).toBe(false);
    expect(pixelsWorthStoring(316, 317, modelSpec, true)).toBe(false);
    expect(pixelsWorthStoring(317, 317, modelSpec, true)).toBe(true);
    expect(pixelsWorthStoring(1024, 768, modelSpec, true)).toBe(true);
    // Small ones from any image whose check decodes it all.
    expect(pixelsWorthStoring(32, 32, digit, true)).toBe(true);
    expect(pixelsWorthStoring(32, 32, digitFloats, true)).toBe(true);
    // Float pixels (alignCorners, 4 bytes a value) of a 224×224 RGB input, the same way.
    const floats: PixelSpec = { ...modelSpec, resize: 'fill', resizeKernel: 'alignCorners' };
    expect(pixelsWorthStoring(1024, 768, floats, false)).toBe(false);
    expect(pixelsWorthStoring(1024, 768, floats, true)).toBe(true);
    expect(pixelsWorthStoring(316, 317, floats, true)).toBe(false);
  });

  it("are made for float pixels from a PNG or WebP, whose check decodes every pixel, and not from a JPEG's check", async () => {
    const floats: PixelSpec = { ...modelSpec, resize: 'fill', resizeKernel: 'alignCorners' };
    for (const format of ['png', 'webp'] as const) {
      const made = (await validateImage(await photoLikeImage(640, 480, format), {}, { pixels: floats })).pixels;
      expect(made?.spec).toBe(pixelSpecKey(floats));
      expect(made?.data).toHaveLength(224 * 224 * 3 * 4);
    }
    expect(
      (await validateImage(await photoLikeImage(640, 480, 'jpeg'), {}, { pixels: floats })).pixels,
    ).toBeUndefined();
  });

  it('are made only when worth storing, unless asked for always; never from a JPEG by default, small ones neither', async () => {
    const small = await photoLikeImage(256, 256, 'png');
    expect((await validateImage(small, {}, { pixels: modelSpec })).pixels).toBeUndefined();
    expect((await validateImage(small, {}, { pixels: modelSpec, preparePixels: 'always' })).pixels?.data).toHaveLength(
      224 * 224 * 3,
    );
    const large = await photoLikeImage(640, 480, 'png');
    expect((await validateImage(large, {}, { pixels: modelSpec })).pixels?.spec).toBe(pixelSpecKey(modelSpec));
    const digitSpec: PixelSpec = { width: 28, height: 28, channels: 1, resize: 'contain', resizeKernel: 'nearest' };
    for (const [width, height, spec] of [
      [640, 480, modelSpec],
      [32, 32, digitSpec],
    ] as const) {
      const jpeg = await photoLikeImage(width, height, 'jpeg');
      expect((await validateImage(jpeg, {}, { pixels: spec })).pixels).toBeUndefined();
      expect((await validateImage(jpeg, {}, { pixels: spec, preparePixels: 'always' })).pixels?.spec).toBe(
        pixelSpecKey(spec),
      );
    }
  });
});

describe('validateImage refuses', () => {
  const cases: {
    name: string;
    make: Fixture;
    code: ErrorCode;
    reason?: InvalidImageReason;
    details?: Record<string, unknown>;
    limits?: Partial<ImageLimits>;
  }[] = [
    { name: 'a zero-byte file', make: emptyFile, code: 'INVALID_IMAGE', reason: 'empty' },
    { name: 'text named photo.jpg', make: textFile, code: 'INVALID_IMAGE', reason: 'unrecognized' },
    { name: 'HTML behind a GIF signature', make: polyglotGifHtml, code: 'INVALID_IMAGE', reason: 'corrupt_header' },
    {
      name: 'a JPEG cut in half',
      make: () => truncatedJpeg(256, 192, 0.5),
      code: 'INVALID_IMAGE',
      reason: 'undecodable',
    },
    // Above 512×512 the check keeps one band of the decode: the same refusal.
    {
      name: 'a large JPEG cut in half',
      make: () => truncatedJpeg(1024, 768, 0.5),
      code: 'INVALID_IMAGE',
      reason: 'undecodable',
    },
    {
      name: 'a large PNG cut inside IDAT',
      make: async () => (await validPng(1024, 768)).subarray(0, 200_000),
      code: 'INVALID_IMAGE',
      reason: 'undecodable',
    },
    {
      name: 'a JPEG missing only its last 16 bytes',
      make: async () => (await validJpeg(256, 192)).subarray(0, -16),
      code: 'INVALID_IMAGE',
      reason: 'undecodable',
    },
    {
      name: 'a PNG cut inside IDAT',
      make: async () => (await validPng(256, 192)).subarray(0, 20_000),
      code: 'INVALID_IMAGE',
      reason: 'undecodable',
    },
    {
      name: 'a PNG with corrupt IDAT data and a valid CRC',
      make: () => pngWithCorruptChunk({ fixCrc: true }),
      code: 'INVALID_IMAGE',
      reason: 'undecodable',
    },
    {
      name: 'a PNG with corrupt IDAT data and a stale CRC',
      make: () => pngWithCorruptChunk({ fixCrc: false }),
      code: 'INVALID_IMAGE',
      reason: 'undecodable',
    },
    {
      name: 'a WebP cut in half',
      make: async () => (await photoLikeImage(256, 192, 'webp')).subarray(0, 3000),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'an AVIF signature with no image',
      make: async () => (await validAvif()).subarray(0, 64),
      code: 'INVALID_IMAGE',
      reason: 'corrupt_header',
    },
    {
      name: '2 MiB of ICC and EXIF in a JPEG',
      make: () => hugeExifJpeg(2 * MiB),
      code: 'INVALID_IMAGE',
      reason: 'metadata_too_large',
      details: { maxMetadataBytes: MiB },
    },
    { name: 'SVG with an XML prolog', make: () => svgFile(), code: 'UNSUPPORTED_FORMAT', details: { format: 'svg' } },
    {
      name: 'bare SVG',
      make: () => svgFile({ prolog: false }),
      code: 'UNSUPPORTED_FORMAT',
      details: { format: 'svg' },
    },
    {
      name: 'SVG after a BOM and blank lines',
      make: () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('\n\n  '), svgFile()]),
      code: 'UNSUPPORTED_FORMAT',
      details: { format: 'svg' },
    },
    { name: 'PDF', make: pdfFile, code: 'UNSUPPORTED_FORMAT', details: { format: 'pdf' } },
    { name: 'HEIC', make: heicFile, code: 'UNSUPPORTED_FORMAT', details: { format: 'heic' } },
    { name: 'BMP', make: () => bmpFile(), code: 'UNSUPPORTED_FORMAT', details: { format: 'bmp' } },
    {
      name: 'GIF when only JPEG and PNG are allowed',
      make: () => validGif(),
      code: 'UNSUPPORTED_FORMAT',
      details: { format: 'gif' },
      limits: { allowedFormats: ['jpeg', 'png'] },
    },
    {
      name: 'a file over maxBytes',
      make: () => Buffer.alloc(10 * MiB + 1, 0xff),
      code: 'IMAGE_TOO_LARGE',
      details: { bytes: 10 * MiB + 1, maxBytes: 10 * MiB },
    },
    {
      name: 'a valid JPEG over a small maxBytes',
      make: () => validJpeg(),
      code: 'IMAGE_TOO_LARGE',
      limits: { maxBytes: 100 },
    },
    {
      name: 'a PNG header claiming 100000×100000',
      make: () => pixelBomb(),
      code: 'IMAGE_TOO_LARGE',
      details: { width: 100_000, height: 100_000, maxPixels: 40_000_000 },
    },
    {
      name: 'a real 20000×20000 PNG of 48 KiB',
      make: () => decompressionBomb(),
      code: 'IMAGE_TOO_LARGE',
      details: { width: 20_000, height: 20_000, maxPixels: 40_000_000 },
    },
    {
      name: 'an animated GIF of 1001 frames',
      make: () => animatedGif(1001, 32, 32),
      code: 'IMAGE_TOO_LARGE',
      details: { pages: 1001, maxPages: 1000 },
    },
    {
      name: 'a GIF of 3 frames over a small maxPages',
      make: () => animatedGif(3, 32, 32),
      code: 'IMAGE_TOO_LARGE',
      details: { pages: 3, maxPages: 2 },
      limits: { maxPages: 2 },
    },
    {
      name: 'an image one pixel over maxPixels',
      make: () => validPng(101, 100),
      code: 'IMAGE_TOO_LARGE',
      details: { maxPixels: 10_000 },
      limits: { maxPixels: 10_000 },
    },
    {
      name: 'a 1×1 image',
      make: tinyImage,
      code: 'IMAGE_DIMENSIONS',
      details: { width: 1, height: 1, minWidth: 32, minHeight: 32 },
    },
    {
      name: 'a 31×64 image',
      make: () => validPng(31, 64),
      code: 'IMAGE_DIMENSIONS',
      details: { width: 31, height: 64 },
    },
    {
      name: 'a 9000×40 panorama',
      make: () => validPng(9000, 40),
      code: 'IMAGE_DIMENSIONS',
      details: { width: 9000, height: 40, maxWidth: 8192 },
    },
    {
      name: 'a 40×9000 strip',
      make: () => validPng(40, 9000),
      code: 'IMAGE_DIMENSIONS',
      details: { width: 40, height: 9000, maxHeight: 8192 },
    },
    // Stored 64×48 but shown 48×64, which is what the bound applies to.
    {
      name: 'a rotated JPEG too tall once oriented',
      make: () => rotatedJpeg(64, 48),
      code: 'IMAGE_DIMENSIONS',
      details: { width: 48, height: 64 },
      limits: { maxHeight: 60 },
    },
  ];

  it.each(cases)('$name with $code', async ({ make, code, reason, details, limits }) => {
    const bytes = await make();
    // The same answer whether the decode only validates or also makes a model's pixels (which
    // lets JPEG and WebP decode at a reduced scale).
    for (const options of [{}, { pixels: modelSpec, preparePixels: 'always' as const }]) {
      const error = await refusal(bytes, limits, options);
      expect(error.code).toBe(code);
      if (reason !== undefined) expect(error.details).toMatchObject({ reason });
      if (details !== undefined) expect(error.details).toMatchObject(details);
    }
  });

  it('refuses a pixel bomb from its header even when no byte limit would', async () => {
    const bomb = pixelBomb(100_000, 100_000);
    expect(bomb.length).toBeLessThan(1024);
    const error = await refusal(bomb, { maxBytes: 1024 });
    expect(error.code).toBe('IMAGE_TOO_LARGE');
  });

  it('keeps the decoder error as the cause of an undecodable image', async () => {
    const error = await refusal(await truncatedJpeg());
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.cause).not.toBeInstanceOf(AppError);
  });
});

describe('image limits', () => {
  it('defaults to the documented bounds', () => {
    expect(defaultImageLimits).toEqual({
      maxBytes: 10 * MiB,
      maxPixels: 40_000_000,
      minWidth: 32,
      minHeight: 32,
      maxWidth: 8192,
      maxHeight: 8192,
      allowedFormats: ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'],
      maxMetadataBytes: MiB,
      decodeTimeoutSeconds: 10,
      maxPages: 1000,
      maxPixelsByFormat: { avif: 16_000_000 },
    });
  });

  it('fills missing fields from the defaults and ignores undefined ones', () => {
    expect(resolveImageLimits({ maxBytes: 5, maxPixels: undefined })).toMatchObject({
      maxBytes: 5,
      maxPixels: 40_000_000,
    });
  });

  it.each<[string, Partial<ImageLimits>]>([
    ['a zero maxBytes', { maxBytes: 0 }],
    ['a fractional maxPixels', { maxPixels: 1.5 }],
    ['a negative minWidth', { minWidth: -1 }],
    ['minWidth above maxWidth', { minWidth: 100, maxWidth: 99 }],
    ['minHeight above maxHeight', { minHeight: 100, maxHeight: 99 }],
    ['an unknown format', { allowedFormats: ['jpeg', 'bmp' as 'jpeg'] }],
  ])('rejects %s as a configuration error', async (_name, limits) => {
    expect(() => resolveImageLimits(limits)).toThrow(RangeError);
    await expect(validateImage(Buffer.alloc(1), limits)).rejects.toBeInstanceOf(RangeError);
  });

  it('lists every platform format as decodable by this sharp build', () => {
    expect(decodableImageFormats().sort()).toEqual(['avif', 'gif', 'jpeg', 'png', 'tiff', 'webp']);
  });
});

describe('beforeDecode: a say over each decode, by the pixels its header declares', () => {
  it('is told the declared pixels before decoding, and its release runs after the decode, accepted or not', async () => {
    const calls: string[] = [];
    const beforeDecode: ValidateImageOptions['beforeDecode'] = ({ width, height, pixels }) => {
      calls.push(`reserve ${width}x${height}=${pixels}`);
      return () => calls.push('release');
    };
    await validateImage(await validJpeg(64, 48), {}, { beforeDecode });
    const broken = await truncatedJpeg();
    expect((await refusal(broken, {}, { beforeDecode })).code).toBe('INVALID_IMAGE');
    expect(calls).toEqual(['reserve 64x48=3072', 'release', 'reserve 256x192=49152', 'release']);
  });

  it('refuses the image without decoding it when it throws, and is not asked about images refused by their header', async () => {
    let asked = 0;
    const busy = new AppError('SERVER_BUSY', 'no decode memory left');
    const beforeDecode = () => {
      asked++;
      throw busy;
    };
    await expect(validateImage(await validJpeg(64, 48), {}, { beforeDecode })).rejects.toBe(busy);
    expect((await refusal(pixelBomb(), {}, { beforeDecode })).code).toBe('IMAGE_TOO_LARGE');
    expect(asked).toBe(1);
  });
});

describe("a plain JPEG's header, read without libvips", () => {
  it('gives the same validated image, and the same refusals, as sharp reading it', async () => {
    const good: Array<[string, Buffer, Partial<ImageLimits>]> = [
      ['photo-like', await photoLikeImage(1024, 768, 'jpeg'), {}],
      ['64×48', await validJpeg(64, 48), {}],
      ['EXIF rotation with an sRGB profile', await rotatedJpeg(64, 48), {}],
      ['EXIF of 2 MiB, the bound raised', await hugeExifJpeg(2 * MiB), { maxMetadataBytes: 3 * MiB }],
      ['ZIP appended', await polyglotJpegZip(), {}],
      [
        'grey, progressive',
        await sharp(await validJpeg(48, 40))
          .greyscale()
          .jpeg({ progressive: true })
          .toBuffer(),
        {},
      ],
    ];
    const bad: Array<[string, Buffer, Partial<ImageLimits>]> = [
      ['truncated', await truncatedJpeg(), {}],
      ['too wide', await validJpeg(64, 48), { maxWidth: 63 }],
      ['too much metadata', await hugeExifJpeg(), {}],
      ['too many pixels', await validJpeg(64, 48), { maxPixels: 3000 }],
    ];
    const outcomes = async () => ({
      good: await Promise.all(good.map(([, bytes, limits]) => validateImage(bytes, limits))),
      bad: await Promise.all(bad.map(([, bytes, limits]) => refusal(bytes, limits))),
    });
    const fast = await outcomes();
    useJpegDecoder('sharp');
    let viaSharp: Awaited<ReturnType<typeof outcomes>>;
    try {
      viaSharp = await outcomes();
    } finally {
      useJpegDecoder('auto');
    }
    for (const [i, [name]] of good.entries()) expect(fast.good[i], name).toEqual(viaSharp.good[i]);
    for (const [i, [name]] of bad.entries())
      expect({ code: fast.bad[i]!.code, details: fast.bad[i]!.details }, name).toEqual({
        code: viaSharp.bad[i]!.code,
        details: viaSharp.bad[i]!.details,
      });
  });
});

describe('the JPEG check without model pixels (a DCT-domain decode at 1/8 scale)', () => {
  it.each([
    ['large', 1024, 768],
    ['small', 64, 48],
  ] as const)(
    'refuses exactly what a full decode refuses: 30 %s JPEGs with noise in the scan, stray markers or cut short',
    async (size, width, height) => {
      const good = await photoLikeImage(width, height, 'jpeg');
      const fullDecode = (bytes: Buffer) =>
        sharp(bytes, { failOn: 'error', pages: 1, limitInputPixels: 40_000_000 })
          .raw()
          .toBuffer()
          .then(
            () => true,
            () => false,
          );
      // Damage lands in the entropy-coded scan, after the start-of-scan marker's segment.
      const scan = good.indexOf(Buffer.from([0xff, 0xda])) + 16;
      let seed = 7;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
      let refused = 0;
      for (let t = 0; t < 30; t++) {
        const at = scan + Math.floor(random() * (good.length - scan - 80));
        let bytes = Buffer.from(good);
        if (t % 3 === 0) for (let i = 0; i < 64; i++) bytes[at + i] = Math.floor(random() * 256);
        if (t % 3 === 1) bytes.set([0xff, 0xd0 + Math.floor(random() * 8)], at);
        if (t % 3 === 2) bytes = bytes.subarray(0, at);
        const accepted = await validateImage(bytes).then(
          () => true,
          (error: unknown) => {
            expect(error).toMatchObject({ code: 'INVALID_IMAGE', details: { reason: 'undecodable' } });
            return false;
          },
        );
        expect(accepted).toBe(await fullDecode(bytes));
        if (!accepted) refused++;
      }
      // Every cut-short file at least.
      expect(refused).toBeGreaterThanOrEqual(10);
    },
  );
});
