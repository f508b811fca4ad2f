import type { Sharp } from 'sharp';

/**
 * The part of a model's input description that decides its 8-bit pixels: size, colour and how
 * the image is fitted. A model manifest's `input` is one (its `scale` and `channelOrder` are
 * applied to the pixels afterwards, by the worker).
 */
export interface PixelSpec {
  width: number;
  height: number;
  /** 1: greyscale, 3: RGB. Alpha is always flattened onto white. */
  channels: 1 | 3;
  /** sharp's `fit`. */
  resize: 'fill' | 'cover' | 'contain';
  /** sharp's resize kernel. */
  resizeKernel: 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
}

/** Model pixels prepared from an upload, with the key of the spec they were made for. */
export interface PreparedPixels {
  /** height × width × channels bytes, interleaved, row-major. */
  data: Buffer;
  /** {@link pixelSpecKey} of the spec; a reader uses the pixels only when its own spec has this key. */
  spec: string;
}

/** Pixels of at most this many bytes are always worth storing (MNIST's 784, a small embedding input). */
const smallPixelsBytes = 64 * 1024;

/**
 * Whether making and storing a spec's pixels at submit beats the worker decoding the upload again:
 * yes when they are small (≤ 64 KiB), or when the image has at least twice the input's pixels
 * (its decode then costs the worker more than the stored bytes cost Postgres). A 256×256 upload
 * for a 224×224 RGB model is decoded by the worker instead: its 150 kB of pixels would be larger
 * than the upload, and decoding it takes about a millisecond.
 */
export function pixelsWorthStoring(width: number, height: number, spec: PixelSpec): boolean {
  const inputPixels = spec.width * spec.height;
  return inputPixels * spec.channels <= smallPixelsBytes || width * height >= 2 * inputPixels;
}

/**
 * A stable name for the pixels a spec produces: two specs with the same key give the same bytes
 * from the same image. Versioned, so a change to {@link toModelPixels} retires every stored key.
 */
export function pixelSpecKey(spec: PixelSpec): string {
  return `v1:${spec.width}x${spec.height}x${spec.channels}:${spec.resize}:${spec.resizeKernel}`;
}

/**
 * Adds the steps that turn a decoded image into model pixels: flatten transparency onto white,
 * fit to width × height per `resize` (`contain` pads with black) with `resizeKernel`, RGB or
 * greyscale, no alpha, raw 8-bit. The input options (first frame, EXIF orientation, pixel limit)
 * are the caller's. The API runs these steps once, while it validates an upload, and the worker
 * runs the same ones when it has no stored pixels for its model: one function, so both give the
 * same bytes.
 */
export function toModelPixels(image: Sharp, spec: PixelSpec): Sharp {
  let pipeline = image.flatten({ background: { r: 255, g: 255, b: 255 } }).resize(spec.width, spec.height, {
    fit: spec.resize,
    position: 'centre',
    background: { r: 0, g: 0, b: 0, alpha: 1 },
    kernel: spec.resizeKernel,
    // JPEG/WebP shrink-on-load averages pixels while decoding; point sampling must not get it.
    fastShrinkOnLoad: spec.resizeKernel !== 'nearest',
  });
  pipeline = spec.channels === 1 ? pipeline.greyscale() : pipeline.toColourspace('srgb');
  return pipeline.removeAlpha().raw({ depth: 'uchar' });
}
