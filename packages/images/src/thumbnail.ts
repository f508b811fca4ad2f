import sharp from 'sharp';

/** Sides a thumbnail may be asked for, in pixels. */
export const thumbnailSides = { min: 16, max: 512 } as const;

export interface ThumbnailOptions {
  /**
   * Refuse to decode more pixels than this (the input's own count, recorded at upload): a stored
   * image is never decoded past what it was admitted with. @defaultValue 40 000 000
   */
  maxPixels?: number;
}

/**
 * A square WebP thumbnail of a stored input: cropped to the centre, turned upright by its EXIF
 * orientation, first frame only. A list of jobs shows dozens of these, so it costs a few kB each
 * instead of the upload's megabytes; JPEG and WebP inputs are shrunk while they decode. The input
 * was validated at upload (its pixel count is within the tier's limit); the decode is bounded by
 * `maxPixels` and 10 s all the same.
 */
export async function makeThumbnail(input: Uint8Array, side: number, options: ThumbnailOptions = {}): Promise<Buffer> {
  return sharp(input, {
    failOn: 'none',
    sequentialRead: true,
    pages: 1,
    page: 0,
    autoOrient: true,
    limitInputPixels: Math.max(1, options.maxPixels ?? 40_000_000),
  })
    .timeout({ seconds: 10 })
    .resize(side, side, { fit: 'cover', fastShrinkOnLoad: true })
    .webp({ quality: 72, effort: 2 })
    .toBuffer();
}
