/**
 * Validation of uploaded image bytes, in order of cost: size, signature, header, full decode of
 * the first frame. Every refusal is an {@link AppError} with one of these codes:
 *
 * - `INVALID_IMAGE`: the bytes are not a usable image. `details.reason` says which check failed:
 *   `empty` (a zero-byte file; no file at all is the caller's `MISSING_IMAGE`), `unrecognized`
 *   (no image signature: text, HTML, archives), `corrupt_header`, `format_mismatch` (the decoder
 *   disagrees with the signature), `metadata_too_large`, `undecodable` (truncated or corrupt pixel
 *   data) or `decode_timeout`.
 * - `UNSUPPORTED_FORMAT`: a recognised format the platform does not take (SVG, PDF, HEIC, BMP, …),
 *   one left out of `allowedFormats`, or one this sharp build cannot decode.
 * - `IMAGE_TOO_LARGE`: more bytes than `maxBytes`, a header claiming more pixels than
 *   `maxPixels` (decompression bombs are refused before a single row is decoded), or more frames
 *   than `maxPages`.
 * - `IMAGE_DIMENSIONS`: width or height outside the min/max bounds.
 */
import { createHash } from 'node:crypto';
import { AppError, imageTooLargeError, type ImageFormat } from '@inferq/core';
import sharp, { type FormatEnum, type Metadata, type SharpOptions } from 'sharp';
import { imageByteLength } from './imageEnd.ts';
import { framedMetadataBytes, withoutPrivateMetadata } from './imageMetadata.ts';
import { jpegFastPath, plainJpegHeader } from './turboJpeg.ts';
import { maxPixelsFor, resolveImageLimits, type ImageLimits } from './imageLimits.ts';
import {
  makeModelPixels,
  pixelsBuffer,
  pixelSpecKey,
  pixelsWorthStoring,
  type PixelSpec,
  type PreparedPixels,
} from './modelInput.ts';
import { isImageFormat, sniffImageFormat } from './sniffImageFormat.ts';

/** What is known about an image that passed {@link validateImage}. */
export interface ValidatedImage {
  /** The format sniffed from the bytes and confirmed by the decoder. */
  format: ImageFormat;
  /** Width in pixels as displayed, i.e. after EXIF orientation; for animations, of one frame. */
  width: number;
  /** Height in pixels as displayed, i.e. after EXIF orientation; for animations, of one frame. */
  height: number;
  /** Bands the decoder produces: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA or CMYK. */
  channels: number;
  hasAlpha: boolean;
  /**
   * The bytes to store and serve: the upload up to the end of the image proper (see
   * {@link imageByteLength}), so anything appended after it (a ZIP or script payload) is dropped;
   * or, where the format has no end marker (TIFF) or its framing cannot be walked, a lossless PNG
   * re-encode of the first frame (then `format` is `png`). Without private metadata unless
   * {@link ValidateImageOptions.keepMetadata} (see {@link withoutPrivateMetadata}).
   */
  data: Buffer;
  /** Size of `data` in bytes. */
  bytes: number;
  /** Bytes of the upload that were not kept (appended after the image, or replaced by the re-encode). */
  droppedBytes: number;
  /** Hex SHA-256 of `data`. */
  sha256: string;
  /** Frame or page count, present only when there is more than one (animated GIF/WebP, TIFF). */
  pages?: number;
  /** The model pixels made by the decode, when {@link ValidateImageOptions.pixels} asked for them. */
  pixels?: PreparedPixels;
}

export interface ValidateImageOptions {
  /**
   * Make the pixels of this model input with the decode that validates the image ({@link
   * toModelPixels}), so the worker need not decode the upload again. JPEG and WebP then decode
   * at the smallest scale the resize allows (shrink-on-load), which still reads every byte of
   * the data: truncated and corrupt files fail the same way.
   */
  pixels?: PixelSpec | undefined;
  /**
   * `worthwhile`: make them only when {@link pixelsWorthStoring} says so for this image;
   * `always`: for every image. @defaultValue 'worthwhile'
   */
  preparePixels?: 'worthwhile' | 'always';
  /**
   * Called once the header has passed every check and before any pixel is decoded, with the
   * pixels and format the header declares. It may throw to refuse the decode (a process whose
   * decode memory is spoken for), wait (its turn in a fair queue), and return a function called
   * once the decode is over, whatever its outcome. @defaultValue none: every decode starts at once
   */
  beforeDecode?: (declared: DeclaredDecode) => (() => void) | void | Promise<(() => void) | void>;
  /**
   * Store the image with its metadata as uploaded. Otherwise what says who took it, where and
   * with what (EXIF with GPS and maker notes, XMP, IPTC, comments) is removed from `data`,
   * losslessly where the framing allows (see {@link withoutPrivateMetadata}; the orientation is
   * kept), else by the PNG re-encode. @defaultValue false
   */
  keepMetadata?: boolean;
}

/** What an image's header declares, before any pixel is decoded: what a decode will cost. */
export interface DeclaredDecode {
  width: number;
  height: number;
  /** width × height of the first frame. */
  pixels: number;
  format: ImageFormat;
}

/** Reasons carried in `details.reason` of an `INVALID_IMAGE` from {@link validateImage}. */
export type InvalidImageReason =
  | 'empty'
  | 'unrecognized'
  | 'corrupt_header'
  | 'format_mismatch'
  | 'metadata_too_large'
  | 'undecodable'
  | 'decode_timeout';

/**
 * Sharp input options for untrusted bytes. `failOn: 'error'` refuses truncated and corrupt pixel
 * data (the `'none'` level would hand back a half-grey image) while tolerating mere warnings such
 * as stray bytes between JPEG markers, which real cameras write. `pages: 1` keeps animated files
 * to their first frame.
 */
function untrustedInput(maxPixels: number | false): SharpOptions {
  return { failOn: 'error', limitInputPixels: maxPixels, sequentialRead: true, pages: 1, page: 0 };
}

/** Images up to this many pixels (512×512) are decoded to all their bands when only validated. */
const smallDecodePixels = 512 * 512;

function invalid(
  reason: InvalidImageReason,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): AppError {
  return new AppError('INVALID_IMAGE', message, { details: { reason, ...details }, cause });
}

/** sharp's `metadata().format` plus the HEIF compression, as a sniffed-format name. */
function decodedFormat(metadata: Metadata): string {
  if (metadata.format === 'heif') return metadata.compression === 'av1' ? 'avif' : 'heic';
  return metadata.format;
}

/**
 * What sharp's metadata() says of a plain JPEG, read without libvips (whose header read, with its
 * EXIF parse, cost about a third of a millisecond a submit): libjpeg-turbo's header read and the
 * framing ({@link plainJpegHeader}); null for anything else, which sharp reads. The caller asks only
 * for a file whose framing walks to its end, so the metadata limit counts every segment and the
 * private ones can be cut out as always.
 */
function plainJpegMetadata(input: Buffer): Metadata | null {
  const header = plainJpegHeader(input);
  if (!header) return null;
  const { width, height, channels, orientation, exif, xmp, iptc } = header;
  return {
    format: 'jpeg',
    width,
    height,
    channels,
    space: channels === 1 ? 'b-w' : 'srgb',
    depth: 'uchar',
    hasAlpha: false,
    orientation,
    ...(exif ? { exif } : {}),
    ...(xmp ? { xmp } : {}),
    ...(iptc ? { iptc } : {}),
  } as Metadata;
}

/** Whether the decoder found metadata that can say who took the image and where. */
function carriesPrivateMetadata(metadata: Metadata): boolean {
  return (
    [metadata.exif, metadata.xmp, metadata.iptc, metadata.tifftagPhotoshop].some(
      (blob) => blob !== undefined && blob.length > 0,
    ) || (metadata.comments?.length ?? 0) > 0
  );
}

/** Metadata blobs libvips attaches to the image; what a validated image may carry in total. */
function metadataBytes(metadata: Metadata): number {
  let total = 0;
  for (const blob of [metadata.exif, metadata.icc, metadata.iptc, metadata.xmp, metadata.tifftagPhotoshop])
    total += blob?.length ?? 0;
  for (const comment of metadata.comments ?? [])
    total += Buffer.byteLength(comment.keyword) + Buffer.byteLength(comment.text);
  return total;
}

const sharpDecoders: Record<ImageFormat, keyof FormatEnum> = {
  jpeg: 'jpeg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  avif: 'heif',
  tiff: 'tiff',
};

/** The platform formats that this process's sharp build can decode from a buffer. */
export function decodableImageFormats(): ImageFormat[] {
  return (Object.keys(sharpDecoders) as ImageFormat[]).filter(
    (format) => sharp.format[sharpDecoders[format]]?.input.buffer === true,
  );
}

/**
 * Checks that `bytes` are one image the platform will take, within `limits`, and describes it.
 * The format is always sniffed from the bytes; callers have no way to pass a file name or a
 * declared content type, on purpose. Trailing bytes after a complete image (a JPEG with a ZIP
 * appended) are accepted but not kept: `data` holds the image alone (see {@link ValidatedImage.data}).
 *
 * @param limits - bounds to apply; gaps are filled from {@link defaultImageLimits}
 * @throws AppError `INVALID_IMAGE`, `UNSUPPORTED_FORMAT`, `IMAGE_TOO_LARGE` or `IMAGE_DIMENSIONS`
 * @throws RangeError when `limits` itself is nonsensical (a configuration bug, not a bad image)
 */
export async function validateImage(
  bytes: Uint8Array,
  limits: Partial<ImageLimits> = {},
  options: ValidateImageOptions = {},
): Promise<ValidatedImage> {
  const bounds = resolveImageLimits(limits);
  const input = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  if (input.length === 0) throw invalid('empty', 'The image file is empty');
  if (input.length > bounds.maxBytes) {
    throw imageTooLargeError(bounds.maxBytes, input.length);
  }

  // Only bytes with an accepted raster signature ever reach sharp: libvips would happily render
  // SVG (and PDF, where built in) handed to it, so those are refused here by signature.
  const sniffed = sniffImageFormat(input);
  if (sniffed === undefined) throw invalid('unrecognized', 'The file is not an image');
  if (
    !isImageFormat(sniffed) ||
    !bounds.allowedFormats.includes(sniffed) ||
    !decodableImageFormats().includes(sniffed)
  ) {
    throw new AppError('UNSUPPORTED_FORMAT', `The ${sniffed} format is not accepted`, {
      details: { format: sniffed, allowedFormats: bounds.allowedFormats },
    });
  }

  // Where the image ends, and its metadata segments by its framing (null: it cannot be walked).
  const imageEnd = imageByteLength(input, sniffed);
  const framed = framedMetadataBytes(input.subarray(0, imageEnd ?? input.length), sniffed);

  // Header only: no pixel is decoded, so the pixel limit is ours to apply with useful details.
  let metadata: Metadata;
  try {
    metadata =
      (sniffed === 'jpeg' && imageEnd !== null && framed !== null && plainJpegMetadata(input)) ||
      (await sharp(input, untrustedInput(false)).metadata());
  } catch (error) {
    throw invalid('corrupt_header', 'The image header cannot be read', { format: sniffed }, error);
  }

  const decoded = decodedFormat(metadata);
  if (decoded === 'heic') {
    throw new AppError('UNSUPPORTED_FORMAT', 'The heic format is not accepted', {
      details: { format: 'heic', allowedFormats: bounds.allowedFormats },
    });
  }
  if (decoded !== sniffed) {
    throw invalid('format_mismatch', 'The image content does not match its signature', { sniffed, decoded });
  }

  const pages = metadata.pages ?? 1;
  if (pages > bounds.maxPages) {
    throw new AppError('IMAGE_TOO_LARGE', `The image has ${pages} frames; the limit is ${bounds.maxPages}`, {
      details: { pages, maxPages: bounds.maxPages },
    });
  }

  const storedWidth = metadata.width;
  const storedHeight = metadata.pageHeight ?? metadata.height;
  const maxPixels = maxPixelsFor(bounds, sniffed);
  if (storedWidth * storedHeight > maxPixels) {
    const formatNote = maxPixels < bounds.maxPixels ? ` for ${sniffed}, which is slow to decode` : '';
    throw new AppError(
      'IMAGE_TOO_LARGE',
      `The image is ${storedWidth}×${storedHeight} pixels (${((storedWidth * storedHeight) / 1e6).toFixed(1)} MP); the limit is ${(maxPixels / 1e6).toFixed(1)} MP${formatNote}.`,
      {
        details: { width: storedWidth, height: storedHeight, maxPixels, format: sniffed },
      },
    );
  }

  // Orientations 5–8 turn the image a quarter, swapping what the viewer sees as width and height.
  const quarterTurn = (metadata.orientation ?? 1) >= 5;
  const width = quarterTurn ? storedHeight : storedWidth;
  const height = quarterTurn ? storedWidth : storedHeight;
  if (width < bounds.minWidth || height < bounds.minHeight || width > bounds.maxWidth || height > bounds.maxHeight) {
    throw new AppError('IMAGE_DIMENSIONS', `The image is ${width}×${height} pixels, outside the accepted dimensions`, {
      details: {
        width,
        height,
        minWidth: bounds.minWidth,
        minHeight: bounds.minHeight,
        maxWidth: bounds.maxWidth,
        maxHeight: bounds.maxHeight,
      },
    });
  }

  // The decoder reports one blob of each kind; the framing counts every segment (a file can
  // carry hundreds of APP1 segments, or text chunks that decompress to much more).
  const embedded = Math.max(metadataBytes(metadata), framed ?? 0);
  if (embedded > bounds.maxMetadataBytes) {
    throw invalid('metadata_too_large', 'The image carries too much embedded metadata', {
      metadataBytes: embedded,
      maxMetadataBytes: bounds.maxMetadataBytes,
    });
  }

  // Decode every pixel of the first frame so truncated and corrupt files fail here, not in a
  // worker. Without a model spec, keeping one band as 8-bit holds the output to one byte a pixel
  // (≤ maxPixels bytes) while the decoder still reads all of the data; the buffer is dropped. An
  // image of at most smallDecodePixels keeps its bands as decoded (≤ 2 MiB): for a 32×32 JPEG the
  // band extraction costs more than a third of the decode (pnpm bench validate).
  const release = await options.beforeDecode?.({
    width: storedWidth,
    height: storedHeight,
    pixels: storedWidth * storedHeight,
    format: sniffed,
  });
  const started = performance.now();
  let pixels: PreparedPixels | undefined;
  const spec =
    options.pixels &&
    (options.preparePixels === 'always' || pixelsWorthStoring(width, height, options.pixels, sniffed !== 'jpeg'))
      ? options.pixels
      : undefined;
  try {
    // Made when needed: a plain JPEG's check below is libjpeg-turbo's alone.
    const decoder = () =>
      sharp(input, { ...untrustedInput(maxPixels), autoOrient: spec !== undefined }).timeout({
        seconds: bounds.decodeTimeoutSeconds,
      });
    if (spec) {
      const made = await makeModelPixels(decoder(), spec);
      if (made.width === spec.width && made.height === spec.height && made.channels === spec.channels)
        pixels = { data: pixelsBuffer(made), spec: pixelSpecKey(spec) };
    } else if (sniffed === 'jpeg' && storedWidth >= 16 && storedHeight >= 16) {
      // JPEG's DCT-domain shrink-on-load (libjpeg's scaled IDCT at 1/8): every Huffman symbol of
      // every block is still decoded, so truncated and corrupt entropy data fail as they do in a
      // full decode, while the inverse DCT, upsampling and colour conversion shrink 64-fold.
      // libjpeg-turbo reads it first, at less than half sharp's CPU (turboJpeg.ts); a file it read
      // without a single warning is what sharp would accept. Anything else (a warning, a file it
      // does not take) is decided by sharp, as before. The size sharp is asked for is the 1/8 size
      // rounded down, so it picks the largest shrink (8).
      const checked = await jpegFastPath(input, { maxPixels, shrink: 8, checkOnly: true }, () => true).catch(
        () => null,
      );
      if (!checked?.clean)
        await decoder()
          .resize(Math.floor(storedWidth / 8), Math.floor(storedHeight / 8), {
            fit: 'fill',
            kernel: 'nearest',
            fastShrinkOnLoad: true,
          })
          .extractChannel(0)
          .raw({ depth: 'uchar' })
          .toBuffer();
    } else if (storedWidth * storedHeight <= smallDecodePixels) {
      await decoder().raw().toBuffer();
    } else {
      await decoder().extractChannel(0).raw({ depth: 'uchar' }).toBuffer();
    }
  } catch (error) {
    // sharp's timeout error has no code, so the clock decides which failure this was.
    if (performance.now() - started >= bounds.decodeTimeoutSeconds * 1000) {
      throw invalid(
        'decode_timeout',
        'Decoding the image took too long',
        { decodeTimeoutSeconds: bounds.decodeTimeoutSeconds },
        error,
      );
    }
    throw invalid('undecodable', 'The image data is truncated or corrupt', { format: sniffed }, error);
  } finally {
    release?.();
  }

  // Store only the image: cut at its own end marker (no decode, microseconds), else re-encode.
  // Private metadata goes too, by rewriting the framing where it can be (JPEG, PNG, WebP, GIF;
  // AVIF's is overwritten in place); a TIFF that carries any, or an AVIF that cannot be scrubbed,
  // is re-encoded.
  let end = imageEnd;
  let data: Buffer;
  let format: ImageFormat = sniffed;
  const image = end === null ? null : input.subarray(0, end);
  const stored =
    image === null || options.keepMetadata
      ? image
      : (withoutPrivateMetadata(image, sniffed, metadata.orientation) ??
        (carriesPrivateMetadata(metadata) ? null : image));
  if (stored === null) end = null;
  if (stored !== null) {
    data = stored;
  } else {
    data = await sharp(input, { ...untrustedInput(maxPixels), autoOrient: true })
      .timeout({ seconds: bounds.decodeTimeoutSeconds })
      .png()
      .toBuffer();
    format = 'png';
  }

  const validated: ValidatedImage = {
    format,
    width,
    height,
    channels: metadata.channels,
    hasAlpha: metadata.hasAlpha,
    data,
    bytes: data.length,
    droppedBytes: input.length - (end === null ? 0 : data.length),
    sha256: createHash('sha256').update(data).digest('hex'),
  };
  if (metadata.pages !== undefined && metadata.pages > 1) validated.pages = metadata.pages;
  if (pixels) validated.pixels = pixels;
  return validated;
}
