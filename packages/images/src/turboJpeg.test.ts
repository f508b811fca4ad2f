import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { alignCornersResize, imageToInput, inputScaling, makeModelPixels } from './modelInput.ts';
import { idleJpegDecompressors, jpegDecoderName, jpegFastPath, plainJpegHeader, useJpegDecoder } from './turboJpeg.ts';
import {
  alignedBgrInput,
  alignedRgbInput,
  photoLikeImage,
  rotatedJpeg,
  hugeExifJpeg,
  truncatedJpeg,
  validPng,
} from './testing/imageFixtures.ts';

const photos = path.join(import.meta.dirname, '../../inference/test/fixtures/photos');
const available = jpegDecoderName() === 'libjpeg-turbo';
// CI installs libturbojpeg0: there the path must be in use, not skipped.
const describeFast = available || process.env.CI ? describe : describe.skip;

const nsfwLike = alignedRgbInput;
const bgrMeanStd = alignedBgrInput;

/** `jpeg` without its APP2 ICC_PROFILE segments (the framing walked up to the first scan). */
function withoutIccProfile(jpeg: Buffer): Buffer {
  const kept: Buffer[] = [jpeg.subarray(0, 2)];
  let at = 2;
  while (jpeg[at] === 0xff && jpeg[at + 1] !== 0xda) {
    const end = at + 2 + jpeg.readUInt16BE(at + 2);
    if (!(jpeg[at + 1] === 0xe2 && jpeg.toString('latin1', at + 4, at + 16) === 'ICC_PROFILE\0'))
      kept.push(jpeg.subarray(at, end));
    at = end;
  }
  kept.push(jpeg.subarray(at));
  return Buffer.concat(kept);
}

const bytesOf = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);

async function sharpRgb(jpeg: Buffer) {
  return sharp(jpeg, { failOn: 'error', autoOrient: true })
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
}

/** Every layout libjpeg takes apart differently: subsamplings, progressive, restarts, odd sides, grey. */
async function variants(): Promise<Array<[string, Buffer]>> {
  const coffee = await readFile(path.join(photos, 'coffee.jpg'));
  const base = sharp(coffee).resize(333, 517, { fit: 'fill' });
  return [
    ['astronaut.jpg', await readFile(path.join(photos, 'astronaut.jpg'))],
    ['coffee.jpg', coffee],
    ['4:2:0', await base.clone().jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer()],
    ['4:4:4', await base.clone().jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer()],
    ['progressive', await base.clone().jpeg({ quality: 80, progressive: true }).toBuffer()],
    ['grey', await base.clone().greyscale().jpeg({ quality: 85 }).toBuffer()],
    ['photo-like 640×480', await photoLikeImage(640, 480)],
  ];
}

describeFast('JPEG decoding through libjpeg-turbo', () => {
  it('is in use here', () => {
    expect(jpegDecoderName()).toBe('libjpeg-turbo');
  });

  it('stands aside for sharp when the process is told so (JPEG_DECODER=sharp)', async () => {
    const jpeg = await photoLikeImage(64, 48);
    try {
      expect(useJpegDecoder('sharp')).toBe('sharp');
      expect(await jpegFastPath(jpeg, { maxPixels: 1e8 }, () => true)).toBeNull();
    } finally {
      expect(useJpegDecoder('auto')).toBe('libjpeg-turbo');
    }
    expect(await jpegFastPath(jpeg, { maxPixels: 1e8 }, () => true)).toEqual({ value: true, clean: true });
  });

  it.each([false, true])('gives sharp’s pixels byte for byte, for every layout (blocking: %s)', async (blocking) => {
    for (const [name, jpeg] of await variants()) {
      const ours = await jpegFastPath(jpeg, { maxPixels: 1e8, blocking }, (pixels) => ({
        data: Buffer.from(pixels.data),
        width: pixels.width,
        height: pixels.height,
      }));
      const theirs = await sharpRgb(jpeg);
      expect(ours, name).not.toBeNull();
      expect(ours!.clean, name).toBe(true);
      expect([ours!.value.width, ours!.value.height], name).toEqual([theirs.info.width, theirs.info.height]);
      expect(ours!.value.data.equals(theirs.data), name).toBe(true);
    }
  });

  it('makes the model input bit for bit as the sharp path does', async () => {
    for (const [name, jpeg] of await variants()) {
      for (const spec of [nsfwLike, bgrMeanStd]) {
        const viaSharp = await makeModelPixels(
          sharp(jpeg, { failOn: 'error', autoOrient: true, pages: 1 }),
          spec,
          inputScaling(spec),
        );
        const input = await imageToInput(jpeg, spec);
        expect(
          bytesOf(input).equals(bytesOf(viaSharp.data as Float32Array)),
          `${name}, ${spec.width}×${spec.height}`,
        ).toBe(true);
      }
    }
  });

  it('reads every EXIF orientation as sharp shows it, bit for bit', async () => {
    const base = sharp(await readFile(path.join(photos, 'chelsea.jpg'))).resize(333, 517, { fit: 'fill' });
    for (let orientation = 1; orientation <= 8; orientation++) {
      // sharp writes the orientation with an sRGB profile beside it; the profile is cut out again.
      const jpeg = withoutIccProfile(await base.clone().jpeg({ quality: 90 }).withMetadata({ orientation }).toBuffer());
      // Taken here, not sent to sharp: no ICC profile, so only the orientation differs.
      expect(await jpegFastPath(jpeg, { maxPixels: 1e8 }, (pixels) => pixels.orientation)).toEqual({
        value: orientation,
        clean: true,
      });
      for (const spec of [nsfwLike, bgrMeanStd]) {
        const viaSharp = await makeModelPixels(
          sharp(jpeg, { failOn: 'error', autoOrient: true }),
          spec,
          inputScaling(spec),
        );
        expect(
          bytesOf(await imageToInput(jpeg, spec)).equals(bytesOf(viaSharp.data as Float32Array)),
          `orientation ${orientation}, ${spec.width}×${spec.height}`,
        ).toBe(true);
      }
    }
  });

  it('leaves to sharp what it would decode differently: an ICC profile, CMYK, other formats', async () => {
    const coffee = await readFile(path.join(photos, 'coffee.jpg'));
    const cases: Array<[string, Buffer]> = [
      ['Display P3 profile', await sharp(coffee).withIccProfile('p3').jpeg().toBuffer()],
      ['an sRGB profile and an EXIF rotation', await rotatedJpeg(64, 48)],
      ['CMYK', await sharp(coffee).toColourspace('cmyk').jpeg().toBuffer()],
      ['PNG', await validPng()],
    ];
    for (const [name, bytes] of cases) {
      expect(await jpegFastPath(bytes, { maxPixels: 1e8 }, () => true), name).toBeNull();
    }
    // Those still come out as sharp makes them, through imageToInput.
    for (const [name, bytes] of cases.slice(0, 2)) {
      const viaSharp = await makeModelPixels(
        sharp(bytes, { failOn: 'error', autoOrient: true }),
        nsfwLike,
        inputScaling(nsfwLike),
      );
      expect(bytesOf(await imageToInput(bytes, nsfwLike)).equals(bytesOf(viaSharp.data as Float32Array)), name).toBe(
        true,
      );
    }
  });

  it("reads a plain JPEG's header as sharp's metadata() does, and leaves the rest to it", async () => {
    const base = sharp(await readFile(path.join(photos, 'chelsea.jpg'))).resize(333, 517, { fit: 'fill' });
    const plain: Array<[string, Buffer]> = [...(await variants()), ['EXIF, XMP and comment', await hugeExifJpeg()]];
    for (let orientation = 1; orientation <= 8; orientation++)
      plain.push([
        `orientation ${orientation}`,
        withoutIccProfile(await base.clone().jpeg({ quality: 90 }).withMetadata({ orientation }).toBuffer()),
      ]);
    for (const [name, bytes] of plain) {
      const header = plainJpegHeader(bytes);
      const metadata = await sharp(bytes).metadata();
      expect(header, name).toMatchObject({
        width: metadata.width,
        height: metadata.height,
        channels: metadata.channels,
        orientation: metadata.orientation ?? 1,
      });
      expect(header?.exif?.length, name).toBe(metadata.exif?.length);
    }
    const coffee = await readFile(path.join(photos, 'coffee.jpg'));
    const others: Array<[string, Buffer]> = [
      ['CMYK', await sharp(coffee).toColourspace('cmyk').jpeg().toBuffer()],
      ['PNG', await validPng()],
      ['cut inside its header', coffee.subarray(0, 300)],
      ['a frame header too short', Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x05, 8, 0, 1, 0xff, 0xda])],
    ];
    for (const [name, bytes] of others) expect(plainJpegHeader(bytes), name).toBeNull();
    useJpegDecoder('sharp');
    try {
      expect(plainJpegHeader(coffee)).toBeNull();
    } finally {
      useJpegDecoder('auto');
    }
  });

  it('refuses more pixels than allowed before decoding', async () => {
    const jpeg = await photoLikeImage(640, 480);
    expect(await jpegFastPath(jpeg, { maxPixels: 640 * 480 - 1 }, () => true)).toBeNull();
    expect(await jpegFastPath(jpeg, { maxPixels: 640 * 480 }, () => true)).not.toBeNull();
  });

  it('reports a truncated or corrupt stream as not clean, at full size and at 1/8', async () => {
    const truncated = await truncatedJpeg(256, 192, 0.5);
    const corrupt = Buffer.from(await photoLikeImage(640, 480));
    for (let i = corrupt.length - 400; i < corrupt.length - 300; i++) corrupt[i] = (corrupt[i] as number) ^ 0x5a;
    for (const blocking of [false, true])
      for (const shrink of [1, 8] as const) {
        for (const [name, bytes] of [
          ['truncated', truncated],
          ['corrupt', corrupt],
        ] as const) {
          const outcome = await jpegFastPath(bytes, { maxPixels: 1e8, shrink, checkOnly: true, blocking }, () => true);
          expect(outcome === null || outcome.clean === false, `${name} at 1/${shrink}, blocking: ${blocking}`).toBe(
            true,
          );
        }
      }
  });

  it('decodes at 1/8, 1/4 and 1/2 of each side, rounded up', async () => {
    const jpeg = await sharp(await photoLikeImage(640, 480))
      .resize(333, 517, { fit: 'fill' })
      .jpeg()
      .toBuffer();
    const sides = (shrink: 2 | 4 | 8) =>
      jpegFastPath(jpeg, { maxPixels: 1e8, shrink }, (pixels) => [pixels.width, pixels.height]);
    expect(await sides(8)).toEqual({ value: [42, 65], clean: true });
    expect(await sides(4)).toEqual({ value: [84, 130], clean: true });
    expect(await sides(2)).toEqual({ value: [167, 259], clean: true });
  });

  it("takes libjpeg's fast IDCT and upsampling only when asked, each changing some pixels by a few levels", async () => {
    const coffee = await readFile(path.join(photos, 'coffee.jpg'));
    const decode = (fast?: { dct?: boolean; upsample?: boolean }) =>
      jpegFastPath(coffee, { maxPixels: 1e8, ...(fast ? { fast } : {}) }, (pixels) => Buffer.from(pixels.data));
    const exact = (await decode())!.value;
    expect(exact.equals((await sharpRgb(coffee)).data)).toBe(true);
    for (const fast of [{ dct: true }, { upsample: true }]) {
      const pixels = (await decode(fast))!.value;
      let changed = 0;
      let largest = 0;
      for (let i = 0; i < exact.length; i++) {
        const difference = Math.abs(pixels[i]! - exact[i]!);
        if (difference > 0) changed++;
        largest = Math.max(largest, difference);
      }
      expect(changed, JSON.stringify(fast)).toBeGreaterThan(exact.length / 100);
      expect(largest, JSON.stringify(fast)).toBeLessThan(64);
    }
  });

  it('serves decodes in flight at once, each with its own pixels', async () => {
    const [a, b] = [await photoLikeImage(640, 480), await readFile(path.join(photos, 'coffee.jpg'))];
    const sums = await Promise.all(
      [a, b, a, b, a, b, a, b].map((jpeg) =>
        jpegFastPath(jpeg, { maxPixels: 1e8 }, (pixels) =>
          alignCornersResize(pixels.data, pixels.width, pixels.height, 3, 8, 8),
        ),
      ),
    );
    const [first, second] = [sums[0]!.value, sums[1]!.value];
    expect(first).not.toEqual(second);
    sums.forEach((outcome, i) => expect(outcome!.value).toEqual(i % 2 === 0 ? first : second));
    // Eight decompressors were in use at once; four are kept, the others freed.
    expect(idleJpegDecompressors()).toBe(4);
  });
});
