import { imageFormats, type ImageFormat } from '@inferq/core';

const MiB = 1024 * 1024;

/**
 * What {@link validateImage} accepts. Every bound is inclusive. The size bounds are required so a
 * deployment states them; the rest fall back to their defaults.
 */
export interface ImageLimits {
  /**
   * Largest file accepted, in bytes; checked before anything parses the file.
   * @defaultValue 10 MiB (10_485_760)
   */
  maxBytes: number;
  /**
   * Largest frame accepted, in pixels (width × height of the first frame), read from the header
   * before any decoding and passed to sharp as `limitInputPixels`. Bounds decode memory and time.
   * @defaultValue 40 megapixels (40_000_000)
   */
  maxPixels: number;
  /**
   * Narrowest image accepted, in pixels, after EXIF orientation.
   * @defaultValue 32
   */
  minWidth: number;
  /**
   * Shortest image accepted, in pixels, after EXIF orientation.
   * @defaultValue 32
   */
  minHeight: number;
  /**
   * Widest image accepted, in pixels, after EXIF orientation.
   * @defaultValue 8192
   */
  maxWidth: number;
  /**
   * Tallest image accepted, in pixels, after EXIF orientation.
   * @defaultValue 8192
   */
  maxHeight: number;
  /**
   * Formats accepted, as sniffed from the bytes. A format missing from this sharp build's decoders
   * is refused even when listed here.
   * @defaultValue `['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff']`
   */
  allowedFormats?: readonly ImageFormat[];
  /**
   * Largest total of embedded metadata accepted (EXIF, ICC profile, XMP, IPTC, Photoshop data and
   * PNG text), in bytes. Cameras and editors write tens of KiB and ICC profiles rarely pass a few
   * hundred; megabytes of it point at a crafted file or a payload riding along, so the image is
   * refused rather than silently stripped.
   * @defaultValue 1 MiB (1_048_576)
   */
  maxMetadataBytes?: number;
  /**
   * Wall-clock bound on decoding the first frame, in whole seconds; libvips stops the decode when
   * it runs over (pathological files, e.g. progressive JPEGs with thousands of scans).
   * @defaultValue 10
   */
  decodeTimeoutSeconds?: number;
  /**
   * Most frames (pages) a file may hold: animated GIF/WebP frames or TIFF pages. Only the first
   * is ever decoded, but a file of thousands of frames is no photo; it is refused as too large.
   * @defaultValue 1000
   */
  maxPages?: number;
  /**
   * A lower pixel limit for formats that cost far more to decode per pixel than JPEG (see
   * {@link decodeCostPerPixel}): a 900-byte AVIF can declare 40 MP and take seconds of CPU.
   * `maxPixels` still applies to every format.
   * @defaultValue `{ avif: 16_000_000 }`
   */
  maxPixelsByFormat?: Readonly<Partial<Record<ImageFormat, number>>>;
}

/** {@link ImageLimits} with every field filled in. */
export type ResolvedImageLimits = Required<ImageLimits>;

export const defaultImageLimits: Readonly<ResolvedImageLimits> = Object.freeze({
  maxBytes: 10 * MiB,
  maxPixels: 40_000_000,
  minWidth: 32,
  minHeight: 32,
  maxWidth: 8192,
  maxHeight: 8192,
  allowedFormats: Object.freeze([...imageFormats]),
  maxMetadataBytes: 1 * MiB,
  decodeTimeoutSeconds: 10,
  maxPages: 1000,
  maxPixelsByFormat: Object.freeze({ avif: 16_000_000 }),
});

/** The pixel limit for one format: the lower of `maxPixels` and the format's own. */
export function maxPixelsFor(limits: ResolvedImageLimits, format: ImageFormat): number {
  const own = Object.hasOwn(limits.maxPixelsByFormat, format) ? limits.maxPixelsByFormat[format] : undefined;
  return own === undefined ? limits.maxPixels : Math.min(limits.maxPixels, own);
}

/**
 * Fills the gaps in `limits` from {@link defaultImageLimits} and checks the result. Call it once
 * at boot so a bad configuration fails there.
 * @throws RangeError when a bound is not a positive integer or min exceeds max
 */
export function resolveImageLimits(limits: Partial<ImageLimits> = {}): ResolvedImageLimits {
  const resolved: ResolvedImageLimits = { ...defaultImageLimits };
  for (const [key, value] of Object.entries(limits) as [keyof ResolvedImageLimits, unknown][]) {
    if (value !== undefined) Object.assign(resolved, { [key]: value });
  }
  const integers = [
    'maxBytes',
    'maxPixels',
    'minWidth',
    'minHeight',
    'maxWidth',
    'maxHeight',
    'maxMetadataBytes',
    'decodeTimeoutSeconds',
    'maxPages',
  ] as const;
  for (const key of integers) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`image limit ${key} must be a positive integer, got ${String(value)}`);
  }
  if (resolved.minWidth > resolved.maxWidth) throw new RangeError('image limit minWidth exceeds maxWidth');
  if (resolved.minHeight > resolved.maxHeight) throw new RangeError('image limit minHeight exceeds maxHeight');
  const unknown = resolved.allowedFormats.filter((format) => !(imageFormats as readonly string[]).includes(format));
  if (unknown.length > 0) throw new RangeError(`image limit allowedFormats has unknown formats: ${unknown.join(', ')}`);
  for (const [format, value] of Object.entries(resolved.maxPixelsByFormat)) {
    if (!(imageFormats as readonly string[]).includes(format))
      throw new RangeError(`image limit maxPixelsByFormat has an unknown format: ${format}`);
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`image limit maxPixelsByFormat.${format} must be a positive integer, got ${String(value)}`);
  }
  return resolved;
}

/**
 * CPU per pixel of decoding each format, against JPEG's (libjpeg-turbo), rounded up: `pnpm bench
 * validate` measures a photo-like 1024×768 picture in each (2 cores: WebP 3.4–4×, AVIF 5×, PNG
 * 1.3×), and the red team's flat 6300×6300 AVIF took about 7.5× JPEG's time per pixel. So a
 * 900-byte AVIF declaring 16 MP weighs as much as eight 16 MP JPEGs in the decode queue.
 */
export const decodeCostPerPixel: Readonly<Record<ImageFormat, number>> = Object.freeze({
  jpeg: 1,
  gif: 1,
  png: 2,
  tiff: 2,
  webp: 4,
  avif: 8,
});

/** What decoding an image costs the decode queue: its declared pixels weighed by its format. */
export function decodeCost(declared: { pixels: number; format: ImageFormat }): number {
  return Math.ceil(
    declared.pixels * (Object.hasOwn(decodeCostPerPixel, declared.format) ? decodeCostPerPixel[declared.format] : 8),
  );
}
