import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import * as fixtures from './imageFixtures.ts';

describe('image fixtures', () => {
  it.each([
    ['validJpeg', () => fixtures.validJpeg()],
    ['validAvif', () => fixtures.validAvif()],
    ['photoLikeImage', () => fixtures.photoLikeImage(200, 100)],
    ['pngWithCorruptChunk', () => fixtures.pngWithCorruptChunk()],
    ['hugeExifJpeg', () => fixtures.hugeExifJpeg()],
    ['polyglotJpegZip', () => fixtures.polyglotJpegZip()],
  ])('%s gives the same bytes every time', async (_name, make) => {
    expect((await make()).equals(await make())).toBe(true);
  });

  it('a drawing has few colours and a photo-like image many', async () => {
    const drawing = await sharp(await fixtures.drawingImage(320, 240)).stats();
    const photo = await sharp(await fixtures.photoLikeImage(320, 240, 'png')).stats();
    expect(drawing.entropy).toBeLessThan(3);
    expect(photo.entropy).toBeGreaterThan(6);
  });

  it('the decompression bomb is small on disk and complete', async () => {
    const bomb = fixtures.decompressionBomb(2000);
    expect(bomb.length).toBeLessThan(10_000);
    const { info } = await sharp(bomb, { failOn: 'error' }).raw().toBuffer({ resolveWithObject: true });
    expect(info).toMatchObject({ width: 2000, height: 2000 });
  });

  it('the pixel bomb has a 100000×100000 header under 1 KiB', async () => {
    const bomb = fixtures.pixelBomb();
    expect(bomb.length).toBeLessThan(1024);
    expect(await sharp(bomb, { limitInputPixels: false }).metadata()).toMatchObject({
      format: 'png',
      width: 100_000,
      height: 100_000,
    });
  });

  it('a truncated JPEG decodes silently without failOn, which is why validation sets it', async () => {
    await expect(
      sharp(await fixtures.truncatedJpeg(), { failOn: 'none' })
        .raw()
        .toBuffer(),
    ).resolves.toBeInstanceOf(Buffer);
    await expect(
      sharp(await fixtures.truncatedJpeg(), { failOn: 'error' })
        .raw()
        .toBuffer(),
    ).rejects.toThrow();
  });

  it('sharp would render the SVG fixture if handed it, which is why validation never does', async () => {
    expect(await sharp(fixtures.svgFile()).metadata()).toMatchObject({ format: 'svg' });
  });

  it('the animated GIF holds every frame asked for', async () => {
    expect(await sharp(await fixtures.animatedGif(1000, 32, 32)).metadata()).toMatchObject({ pages: 1000 });
  });
});
