import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import type { ImageFormat } from '@inferq/core';
import { imageByteLength } from './imageEnd.ts';
import {
  animatedGif,
  hugeExifJpeg,
  photoLikeImage,
  polyglotJpegZip,
  rotatedJpeg,
  validAvif,
  validGif,
  validJpeg,
  validPng,
  validTiff,
  validWebp,
} from './testing/imageFixtures.ts';

const payload = Buffer.from('PK\x03\x04<?php system($_GET["c"]); ?><html><script>alert(1)</script></html>', 'latin1');

describe('imageByteLength', () => {
  it.each<[string, ImageFormat, () => Promise<Buffer>]>([
    ['a PNG', 'png', () => validPng(64, 48)],
    ['a JPEG', 'jpeg', () => validJpeg(64, 48)],
    [
      'a progressive JPEG',
      'jpeg',
      () =>
        sharp({ create: { width: 200, height: 120, channels: 3, background: '#336699' } })
          .jpeg({ progressive: true })
          .toBuffer(),
    ],
    ['a photo-like JPEG', 'jpeg', () => photoLikeImage(640, 480, 'jpeg')],
    ['a JPEG with EXIF orientation', 'jpeg', () => rotatedJpeg(64, 48)],
    ['a JPEG with 64 KiB of EXIF', 'jpeg', () => hugeExifJpeg(60 * 1024)],
    ['a GIF', 'gif', () => validGif(64, 48)],
    ['an animated GIF', 'gif', () => animatedGif(20, 64, 48)],
    ['a WebP', 'webp', () => validWebp(64, 48)],
    ['a photo-like WebP', 'webp', () => photoLikeImage(320, 240, 'webp')],
    ['an AVIF', 'avif', () => validAvif(64, 48)],
    ['a TIFF', 'tiff', () => validTiff(64, 48)],
    [
      'a tiled, compressed TIFF',
      'tiff',
      () =>
        sharp({ create: { width: 300, height: 200, channels: 3, background: '#ff0000' } })
          .tiff({ tile: true, compression: 'lzw' })
          .toBuffer(),
    ],
  ])('finds the end of %s, with or without a payload appended', async (_case, format, make) => {
    const image = await make();
    expect(imageByteLength(image, format)).toBe(image.length);
    expect(imageByteLength(Buffer.concat([image, payload]), format)).toBe(image.length);
  });

  it('cuts the ZIP off a JPEG/ZIP polyglot', async () => {
    const polyglot = await polyglotJpegZip();
    const jpeg = await validJpeg(64, 48);
    expect(imageByteLength(polyglot, 'jpeg')).toBe(jpeg.length);
  });

  it.each<[string, ImageFormat, Buffer]>([
    ['a PNG cut before IEND', 'png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])],
    ['a JPEG with no EOI', 'jpeg', Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2, 1, 2, 3])],
    ['a GIF with no trailer', 'gif', Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00', 'latin1')],
  ])('answers null for %s', (_case, format, bytes) => {
    expect(imageByteLength(bytes, format)).toBeNull();
  });
});
