import { AppError } from '@inferq/core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { framedMetadataBytes } from './imageMetadata.ts';
import { validateImage } from './imageValidator.ts';
import {
  manyApp1Jpeg,
  privateMetadataImage,
  privateMetadataMarkers,
  validJpeg,
  validPng,
  validWebp,
} from './testing/imageFixtures.ts';

const MiB = 1024 * 1024;

async function refusal(bytes: Buffer, limits = {}): Promise<AppError> {
  const error = await validateImage(bytes, limits).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/** The pixels a viewer sees: oriented, 8-bit RGB. */
async function shown(bytes: Buffer): Promise<{ width: number; height: number; pixels: Buffer }> {
  const { data, info } = await sharp(bytes, { autoOrient: true })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, pixels: data };
}

/** `length` bytes of metadata as one WebP chunk of an unknown kind, inside a VP8X file. */
async function webpWithChunk(type: string, length: number): Promise<Buffer> {
  const webp = await sharp(await validWebp(64, 64))
    .withExif({ IFD0: { Software: 'x' } })
    .webp()
    .toBuffer();
  const chunk = Buffer.alloc(8 + length + (length % 2));
  chunk.write(type, 0, 'latin1');
  chunk.writeUInt32LE(length, 4);
  const file = Buffer.concat([webp, chunk]);
  file.writeUInt32LE(file.length - 8, 4);
  return file;
}

/** `count` tEXt chunks of `length` bytes each, after IHDR. */
async function pngWithTextChunks(count: number, length: number): Promise<Buffer> {
  const png = await validPng(64, 64);
  const chunks: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(length, 0);
    head.write('tEXt', 4, 'latin1');
    const data = Buffer.alloc(length, 0x41);
    data.write('Comment\0', 0, 'latin1');
    const { crc32 } = await import('node:zlib');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0);
    chunks.push(head, data, crc);
  }
  return Buffer.concat([png.subarray(0, 33), ...chunks, png.subarray(33)]);
}

describe('the metadata limit', () => {
  it('counts every APP1 segment of a JPEG: 2.6 MB of them on a 64×64 image is refused', async () => {
    const jpeg = await manyApp1Jpeg(2.6 * MiB);
    expect(framedMetadataBytes(jpeg, 'jpeg')).toBeGreaterThan(2.6 * MiB);
    const error = await refusal(jpeg);
    expect(error.code).toBe('INVALID_IMAGE');
    expect(error.details).toMatchObject({ reason: 'metadata_too_large', maxMetadataBytes: MiB });
    // Within a limit that holds them, the same file passes.
    await expect(validateImage(jpeg, { maxMetadataBytes: 3 * MiB })).resolves.toMatchObject({ width: 64, height: 64 });
  });

  it.each([
    ['PNG tEXt chunks', () => pngWithTextChunks(20, 60_000)],
    ['a WebP chunk of an unknown kind', () => webpWithChunk('JUNK', 1.2 * MiB)],
    ['a WebP XMP chunk', () => webpWithChunk('XMP ', 1.2 * MiB)],
  ])('counts %s against the limit', async (_case, make) => {
    const bytes = await make();
    const error = await refusal(bytes);
    expect(error.details).toMatchObject({ reason: 'metadata_too_large' });
  });

  it('leaves an image with little metadata alone', async () => {
    const jpeg = await validJpeg(64, 64);
    expect(framedMetadataBytes(jpeg, 'jpeg')).toBeLessThan(1024);
    expect((await validateImage(jpeg)).data.equals(jpeg)).toBe(true);
  });
});

describe('private metadata in what is stored', () => {
  it.each(['jpeg', 'png', 'webp', 'gif'] as const)(
    'is removed from a %s without touching its pixels, and the orientation is kept',
    async (format) => {
      const upload = await privateMetadataImage(format);
      // The fixture does carry what must go.
      expect(privateMetadataMarkers.some((marker) => upload.includes(marker))).toBe(true);
      const before = await sharp(upload).metadata();
      const validated = await validateImage(upload);
      expect(validated.format).toBe(format);
      for (const marker of privateMetadataMarkers) expect(validated.data.includes(marker)).toBe(false);
      const after = await sharp(validated.data).metadata();
      expect(after.xmp).toBeUndefined();
      expect(after.orientation).toBe(before.orientation);
      // EXIF: at most the one orientation tag (no GPS, no Artist).
      expect(after.exif?.length ?? 0).toBeLessThan(64);
      // Lossless: what a viewer sees is the same, pixel for pixel, and upright.
      const [original, stored] = await Promise.all([shown(upload), shown(validated.data)]);
      expect({ width: stored.width, height: stored.height }).toEqual({
        width: original.width,
        height: original.height,
      });
      expect(stored.pixels.equals(original.pixels)).toBe(true);
      expect(validated.sha256).not.toBe(undefined);
    },
  );

  it('shows the JPEG upright: orientation 6 turns the 64×48 photo to 48×64', async () => {
    const validated = await validateImage(await privateMetadataImage('jpeg'));
    expect(await shown(validated.data)).toMatchObject({ width: 48, height: 64 });
    expect({ width: validated.width, height: validated.height }).toEqual({ width: 48, height: 64 });
  });

  it('is overwritten in place in an AVIF (EXIF and XMP items), every other byte as it was', async () => {
    const upload = await privateMetadataImage('avif');
    expect(upload.includes('Jane Roe')).toBe(true);
    const validated = await validateImage(upload);
    expect({ format: validated.format, bytes: validated.bytes }).toEqual({ format: 'avif', bytes: upload.length });
    for (const marker of privateMetadataMarkers) expect(validated.data.includes(marker)).toBe(false);
    const after = await sharp(validated.data).metadata();
    expect(after.xmp === undefined || after.xmp.every((byte) => byte === 0x20)).toBe(true);
    const [original, stored] = await Promise.all([shown(upload), shown(validated.data)]);
    expect({ width: stored.width, height: stored.height }).toEqual({ width: original.width, height: original.height });
    expect(stored.pixels.equals(original.pixels)).toBe(true);
    // Only the items' bytes changed.
    const changed = [...upload].filter((byte, i) => validated.data[i] !== byte).length;
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThan(upload.length / 2);
  });

  it.each(['tiff'] as const)('is removed from a %s by a lossless re-encode, upright', async (format) => {
    const upload = await privateMetadataImage(format);
    const validated = await validateImage(upload);
    for (const marker of privateMetadataMarkers) expect(validated.data.includes(marker)).toBe(false);
    const after = await sharp(validated.data).metadata();
    expect({ format: after.format, exif: after.exif, xmp: after.xmp }).toEqual({
      format: 'png',
      exif: undefined,
      xmp: undefined,
    });
    const [original, stored] = await Promise.all([shown(upload), shown(validated.data)]);
    expect({ width: stored.width, height: stored.height }).toEqual({ width: original.width, height: original.height });
    expect(stored.pixels.equals(original.pixels)).toBe(true);
  });

  it('is kept byte for byte when keepMetadata is set', async () => {
    const upload = await privateMetadataImage('jpeg');
    const validated = await validateImage(upload, {}, { keepMetadata: true });
    expect(validated.data.equals(upload)).toBe(true);
  });
});
