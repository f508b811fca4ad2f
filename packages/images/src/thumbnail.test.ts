import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { photoLikeImage } from './testing/imageFixtures.ts';
import { makeThumbnail } from './thumbnail.ts';

describe('makeThumbnail', () => {
  it.each([
    ['a wide JPEG', () => photoLikeImage(1200, 600)],
    [
      'a tall PNG',
      async () =>
        sharp(await photoLikeImage(300, 900))
          .png()
          .toBuffer(),
    ],
    [
      'a GIF',
      async () =>
        sharp(await photoLikeImage(200, 150))
          .gif()
          .toBuffer(),
    ],
  ])('makes %s into a small square WebP of the side asked for', async (_case, make) => {
    const input = await make();
    const thumbnail = await makeThumbnail(input, 96);
    const metadata = await sharp(thumbnail).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['webp', 96, 96]);
    expect(thumbnail.byteLength).toBeLessThan(input.byteLength);
  });

  it('turns an image upright by its EXIF orientation before cropping', async () => {
    // 200 wide, 100 high as stored; orientation 6 says "rotate 90°": upright it is 100 × 200, with
    // the red half (left as stored) on top.
    const stored = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#0000ff' } })
      .composite([
        { input: { create: { width: 100, height: 100, channels: 3, background: '#ff0000' } }, left: 0, top: 0 },
      ])
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const { data } = await sharp(await makeThumbnail(stored, 32))
      .raw()
      .toBuffer({ resolveWithObject: true });
    // A cover crop of 100 × 200 to a square keeps the middle: the top row's red, the bottom's blue.
    const pixel = (x: number, y: number) => [...data.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3)];
    expect(pixel(16, 0)[0]).toBeGreaterThan(200);
    expect(pixel(16, 31)[2]).toBeGreaterThan(200);
  });
});
