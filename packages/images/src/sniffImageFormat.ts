import { imageFormats, type ImageFormat } from '@inferq/core';

/**
 * Formats recognised from their leading bytes. The accepted raster formats are the platform's
 * {@link ImageFormat}s; the rest are recognised only so that they can be refused by name
 * (`UNSUPPORTED_FORMAT`) instead of as noise (`INVALID_IMAGE`).
 */
export const refusedImageFormats = [
  'svg',
  'pdf',
  'postscript',
  'heic',
  'heif',
  'bmp',
  'ico',
  'psd',
  'jxl',
  'jp2',
  'qoi',
  'exr',
  'pnm',
  'vips',
] as const;
export type RefusedImageFormat = (typeof refusedImageFormats)[number];

export type SniffedFormat = ImageFormat | RefusedImageFormat;

/** How many leading bytes of a text-like file are searched for an `<svg` root. */
const svgWindowBytes = 4096;

const avifBrands = new Set(['avif', 'avis']);
const heicBrands = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);
const heifBrands = new Set(['mif1', 'msf1', 'mif2', 'miaf']);

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  return signature.every((byte, index) => bytes[offset + index] === byte);
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, Math.max(0, Math.min(end, bytes.length) - start)).toString(
    'latin1',
  );
}

/** ISO base media files (AVIF, HEIC, MP4, …) open with an `ftyp` box listing brands. */
function sniffIsoBmff(bytes: Uint8Array): SniffedFormat | undefined {
  if (bytes.length < 16 || ascii(bytes, 4, 8) !== 'ftyp') return undefined;
  const boxSize = Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32BE(0);
  const boxEnd = Math.min(bytes.length, Math.max(16, boxSize));
  const brands = [ascii(bytes, 8, 12)];
  for (let offset = 16; offset + 4 <= boxEnd; offset += 4) brands.push(ascii(bytes, offset, offset + 4));
  if (brands.some((brand) => avifBrands.has(brand))) return 'avif';
  if (brands.some((brand) => heicBrands.has(brand))) return 'heic';
  if (brands.some((brand) => heifBrands.has(brand))) return 'heif';
  // Video and other ISO media: not an image.
  return undefined;
}

/**
 * SVG is XML, and libvips would render it (fetching entities, running filters) if handed one, so
 * any text that opens with markup and names an `<svg` root early on counts as SVG.
 */
function sniffSvg(bytes: Uint8Array): boolean {
  let start = 0;
  if (startsWith(bytes, [0xef, 0xbb, 0xbf])) start = 3;
  const head = ascii(bytes, start, start + svgWindowBytes).trimStart();
  return head.startsWith('<') && /<svg[\s>/]/i.test(head);
}

/**
 * Names the format of `bytes` from its signature alone: never a file name or a declared type.
 * Returns `undefined` when the bytes match no image signature (text, HTML, archives, video, noise).
 */
export function sniffImageFormat(bytes: Uint8Array): SniffedFormat | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  const gif = ascii(bytes, 0, 6);
  if (gif === 'GIF87a' || gif === 'GIF89a') return 'gif';
  // Classic TIFF (42) and BigTIFF (43), either byte order.
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  const isoBmff = sniffIsoBmff(bytes);
  if (isoBmff !== undefined) return isoBmff;

  if (ascii(bytes, 0, 5) === '%PDF-') return 'pdf';
  if (ascii(bytes, 0, 4) === '%!PS' || startsWith(bytes, [0xc5, 0xd0, 0xd3, 0xc6])) return 'postscript';
  if (ascii(bytes, 0, 2) === 'BM' && bytes.length >= 26) return 'bmp';
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00]) || startsWith(bytes, [0x00, 0x00, 0x02, 0x00])) return 'ico';
  if (ascii(bytes, 0, 4) === '8BPS') return 'psd';
  if (
    startsWith(bytes, [0xff, 0x0a]) ||
    startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a])
  )
    return 'jxl';
  if (
    startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) ||
    startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])
  )
    return 'jp2';
  if (ascii(bytes, 0, 4) === 'qoif') return 'qoi';
  if (startsWith(bytes, [0x76, 0x2f, 0x31, 0x01])) return 'exr';
  if (/^P[1-7]\s/.test(ascii(bytes, 0, 3))) return 'pnm';
  if (startsWith(bytes, [0x08, 0xf2, 0xa6, 0xb6]) || startsWith(bytes, [0xb6, 0xa6, 0xf2, 0x08])) return 'vips';
  if (sniffSvg(bytes)) return 'svg';
  return undefined;
}

const platformFormats: ReadonlySet<SniffedFormat> = new Set<SniffedFormat>(imageFormats);

/** Whether a sniffed format is one of the platform's raster {@link ImageFormat}s. */
export function isImageFormat(format: SniffedFormat): format is ImageFormat {
  return platformFormats.has(format);
}
