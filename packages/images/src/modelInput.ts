import sharp, { type Sharp } from 'sharp';
import { AppError } from '@inferq/core';
import type { InputScale, ModelInput } from '@inferq/models';
import { pngWithIccProfile } from './iccPng.ts';
import { convertLines, IccTables } from './iccTables.ts';
import { jpegFastPath, type DecodedRgb } from './turboJpeg.ts';

/*
 * A model's input from an image, in one place: the API makes the pixels while it validates an
 * upload (`makeModelPixels`, stored as `PreparedPixels`), the worker turns them, or the upload
 * itself when there are none, into the model's input values (`preparedToInput`, `imageToInput`).
 */

/**
 * The part of a model's input description that decides its 8-bit pixels: size, colour and how
 * the image is fitted. A model manifest's `input` is one (its `scale` and `channelOrder` are
 * applied to the pixels afterwards, by {@link pixelsToInput}).
 */
export interface PixelSpec {
  width: number;
  height: number;
  /** 1: greyscale, 3: RGB. Alpha is always flattened onto white. */
  channels: 1 | 3;
  /** sharp's `fit`. */
  resize: 'fill' | 'cover' | 'contain';
  /**
   * sharp's resize kernel, or `alignCorners`: TensorFlow's `tf.image.resizeBilinear(image, size,
   * alignCorners = true)` on the full-size decode, computed here in floats (what nsfwjs and many
   * TF.js models feed their model; see {@link alignCornersResize}).
   */
  resizeKernel: 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3' | 'alignCorners';
}

/** Model pixels: 8-bit for sharp's kernels, float32 (still 0..255) for `alignCorners`. */
export interface ModelPixels {
  data: Uint8Array | Float32Array;
  width: number;
  height: number;
  channels: number;
}

/** Model pixels prepared from an upload, with the key of the spec they were made for. */
export interface PreparedPixels {
  /**
   * height × width × channels values, interleaved, row-major: one byte each, or for a float spec
   * (`alignCorners`, key `…:f32`) four bytes each, a little-endian float32.
   */
  data: Buffer;
  /** {@link pixelSpecKey} of the spec; a reader uses the pixels only when its own spec has this key. */
  spec: string;
}

/** Pixels of at most this many bytes are worth storing from any image (MNIST's 784, a small embedding input). */
const smallPixelsBytes = 64 * 1024;

/**
 * Whether making and storing a spec's pixels at submit beats the worker decoding the upload again.
 * Only where the check decodes every pixel anyway (`checkDecodesEveryPixel`: every format but
 * JPEG, whose check is libjpeg's DCT-domain decode at 1/8): there the pixels cost the API the
 * resize alone and spare the worker its whole decode. Then yes when they are small (≤ 64 KiB), or
 * from an image of at least twice the input's pixels (its decode then costs the worker more than
 * the stored bytes cost to move). A 256×256 upload for a 224×224 RGB model is decoded by the
 * worker instead: its 150 kB of pixels would be larger than the upload.
 *
 * A JPEG's pixels would take a sharp pipeline in the API where its check alone is a cheap
 * libjpeg-turbo pass, and the API is the one process every user's requests share. For 32×32
 * JPEGs (`pnpm bench fairness`, three runs each), a pro user's burst of 20 beside a free user's
 * flood of 500 answered within 67–81 ms at the p99 (1.58–2.05× its p99 alone) when the worker made
 * them, against 115–157 ms (2.75–3.57×) when the API did; such a submit costs the API 0.88 ms
 * of CPU instead of 1.81 (`pnpm bench requests`). PNG and WebP photos at 1024×768 for nsfw (float
 * pixels) ran 40.7 jobs/s with the hand-off against 33.2 without (`pnpm bench e2e --photos DIR
 * --image native`, medians of three runs).
 */
export function pixelsWorthStoring(
  width: number,
  height: number,
  spec: PixelSpec,
  checkDecodesEveryPixel: boolean,
): boolean {
  if (!checkDecodesEveryPixel) return false;
  const inputPixels = spec.width * spec.height;
  if (inputPixels * spec.channels * bytesPerValue(spec) <= smallPixelsBytes) return true;
  return width * height >= 2 * inputPixels;
}

/** Whether the spec's pixels are floats (a resize computed in float, not rounded to bytes). */
export function isFloatSpec(spec: Pick<PixelSpec, 'resizeKernel'>): boolean {
  return spec.resizeKernel === 'alignCorners';
}

/** Bytes of the pixels a spec produces: height × width × channels values of 1 byte, or 4 for floats. */
export function pixelSpecBytes(spec: PixelSpec): number {
  return spec.width * spec.height * spec.channels * bytesPerValue(spec);
}

function bytesPerValue(spec: Pick<PixelSpec, 'resizeKernel'>): number {
  return isFloatSpec(spec) ? 4 : 1;
}

/**
 * A stable name for the pixels a spec produces: two specs with the same key give the same bytes
 * from the same image. Versioned, so a change to {@link toModelPixels} retires every stored key.
 */
export function pixelSpecKey(spec: PixelSpec): string {
  return `v1:${spec.width}x${spec.height}x${spec.channels}:${spec.resize}:${spec.resizeKernel}${isFloatSpec(spec) ? ':f32' : ''}`;
}

/**
 * Runs `image` (input options such as first frame, EXIF orientation and pixel limit already set
 * by the caller) through {@link toModelPixels} and returns the model's pixels. For
 * `alignCorners` the image is decoded at full size (no shrink-on-load) and resized here in
 * floats, so the values are exactly what TF's resizeBilinear makes of the same decode; with
 * `scaling` they are also scaled into model input in the same pass (what {@link pixelsToInput}
 * would make of them, bit for bit), so the worker allocates and walks one array instead of two.
 * `scaling` is ignored for 8-bit specs.
 */
export async function makeModelPixels(image: Sharp, spec: PixelSpec, scaling?: InputScaling): Promise<ModelPixels> {
  if (!isFloatSpec(spec)) {
    const { data, info } = await toModelPixels(image, spec).toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels };
  }
  if (spec.resize !== 'fill')
    throw new Error(`resizeKernel alignCorners stretches the image (resize 'fill'), not '${spec.resize}'`);
  const { data, info } = await fullSizePixels(image, spec.channels).toBuffer({ resolveWithObject: true });
  if (info.channels !== spec.channels)
    throw new Error(`decoded to ${info.channels} channels, expected ${spec.channels}`);
  return {
    data: alignCornersResize(data, info.width, info.height, spec.channels, spec.width, spec.height, scaling),
    width: spec.width,
    height: spec.height,
    channels: spec.channels,
  };
}

/** An image's every pixel, alpha flattened onto white, as 8-bit sRGB (or grey): what alignCorners resizes. */
function fullSizePixels(image: Sharp, channels: 1 | 3): Sharp {
  const flat = image.flatten({ background: { r: 255, g: 255, b: 255 } });
  return (channels === 1 ? greyOutput(flat) : flat.toColourspace('srgb')).removeAlpha().raw({ depth: 'uchar' });
}

/**
 * This process's tables of ICC profiles' conversions to sRGB (see IccTables), made by the same
 * decode that converts an image in full.
 */
let iccTables = makeIccTables(2);

function makeIccTables(keep: number, minIntervalMs?: number): IccTables {
  return new IccTables({
    keep,
    ...(minIntervalMs !== undefined ? { minIntervalMs } : {}),
    png: pngWithIccProfile,
    toSrgb: (png) => fullSizePixels(sharp(png, { failOn: 'error' }), 3).toBuffer(),
  });
}

/**
 * How many ICC profiles' conversion tables this process keeps (ICC_TABLES; 48 MiB each, made once
 * a profile comes back): a JPEG in a kept profile is decoded by libjpeg-turbo and only the pixels
 * its resize reads are converted. `0`: none, such files are decoded by sharp. Call it at start.
 * `minIntervalMs`: least time between the making of two tables (IccTables; 30 s).
 */
export function useIccTables(keep: number, options: { minIntervalMs?: number } = {}): void {
  iccTables = makeIccTables(keep, options.minIntervalMs);
}

/** Resolves once no conversion table is being made; how many are ready (for tests). */
export async function iccTablesSettled(): Promise<number> {
  await iccTables.settled();
  return iccTables.size;
}

/** The bytes to store for model pixels (float32 values as their little-endian bytes). */
export function pixelsBuffer(pixels: ModelPixels): Buffer {
  const { data } = pixels;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Stored pixels back as values: a copy into a Float32Array for a float spec (Postgres hands back
 * buffers at any byte offset), the bytes themselves otherwise. Undefined when the byte count does
 * not fit `expectedValues`.
 */
export function storedPixelValues(
  data: Uint8Array,
  spec: Pick<PixelSpec, 'resizeKernel'>,
  expectedValues: number,
): Uint8Array | Float32Array | undefined {
  if (data.byteLength !== expectedValues * bytesPerValue(spec)) return undefined;
  if (!isFloatSpec(spec)) return data;
  const out = new Float32Array(expectedValues);
  new Uint8Array(out.buffer).set(data);
  return out;
}

/**
 * Bilinear resize with aligned corners, as `tf.image.resizeBilinear(x, [outH, outW], true)`: the
 * corner pixels of input and output coincide, each output sample is taken at
 * `out * (in - 1) / (outSize - 1)` and interpolated from the four pixels around it. An input
 * already `outW × outH` is copied unchanged, as nsfwjs skips the resize then. Interleaved HWC
 * 8-bit in, float32 (0..255) out; with `scaling`, each value is then scaled (and the channels
 * reordered) as {@link pixelsToInput} does, in the same pass and with the same rounding.
 */
export function alignCornersResize(
  src: Uint8Array,
  inW: number,
  inH: number,
  channels: number,
  outW: number,
  outH: number,
  scaling?: InputScaling,
  orientation = 1,
): Float32Array {
  const out = new Float32Array(outW * outH * channels);
  // Per source channel: the output slot it lands in, and that slot's multiplier and offset.
  const slot = new Int32Array(channels);
  const mul = new Float64Array(channels);
  const add = new Float64Array(channels);
  for (let d = 0; d < channels; d++) {
    const c = scaling?.sourceOf[d] ?? d;
    slot[c] = d;
    mul[c] = scaling?.a[d] ?? 1;
    add[c] = scaling?.b[d] ?? 0;
  }
  if (orientation === 1 && inW === outW && inH === outH) {
    for (let i = 0; i < out.length; i += channels) {
      for (let c = 0; c < channels; c++)
        out[i + (slot[c] as number)] = (src[i + c] as number) * (mul[c] as number) + (add[c] as number);
    }
    return out;
  }
  // Per output column and row: where its two source pixels (rows) start, and the far one's weight
  // (float32 across, as TF's kernel keeps it; double down).
  // An EXIF orientation other than 1 is read through: the grid walks the image as it is shown.
  const shown = orientedStrides(orientation, inW, inH, channels);
  const [x0s, x1s, fxs] = samplePoints(outW, shown.width, shown.strideX, 0, new Float32Array(outW));
  const [tops, bottoms, fys] = samplePoints(outH, shown.height, shown.strideY, shown.base, new Float64Array(outH));
  const grid: ResizeGrid = { outW, outH, tops, bottoms, fys, x0s, x1s, fxs, slot, mul, add };
  if (channels === 3) rgbRows(src, out, grid);
  else anyRows(src, out, channels, grid);
  return out;
}

/**
 * The image as an EXIF orientation shows it, read in place: its shown width and height, and where
 * the shown pixel (x, y) starts in the stored rows, `base + x * strideX + y * strideY` (negative
 * strides walk backwards). The same values as rotating the pixels first, without the copy.
 */
function orientedStrides(
  orientation: number,
  width: number,
  height: number,
  channels: number,
): { width: number; height: number; base: number; strideX: number; strideY: number } {
  const row = width * channels;
  const lastX = (width - 1) * channels;
  const lastY = (height - 1) * row;
  switch (orientation) {
    case 2: // mirrored
      return { width, height, base: lastX, strideX: -channels, strideY: row };
    case 3: // turned 180°
      return { width, height, base: lastX + lastY, strideX: -channels, strideY: -row };
    case 4: // mirrored upside down
      return { width, height, base: lastY, strideX: channels, strideY: -row };
    case 5: // transposed
      return { width: height, height: width, base: 0, strideX: row, strideY: channels };
    case 6: // turned 90° clockwise to show
      return { width: height, height: width, base: lastY, strideX: -row, strideY: channels };
    case 7: // transversed
      return { width: height, height: width, base: lastX + lastY, strideX: -row, strideY: -channels };
    case 8: // turned 90° counter-clockwise to show
      return { width: height, height: width, base: lastX, strideX: row, strideY: -channels };
    default:
      return { width, height, base: 0, strideX: channels, strideY: row };
  }
}

/**
 * Aligned-corners sampling along one axis: output `i` is taken at `i * (inSize - 1) / (outSize - 1)`,
 * between source positions `near` and `far` (as offsets: `origin` plus the position times `stride`),
 * `weights[i]` of the way to `far`.
 */
function samplePoints<W extends Float32Array | Float64Array>(
  outSize: number,
  inSize: number,
  stride: number,
  origin: number,
  weights: W,
): [Int32Array, Int32Array, W] {
  const scale = outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  const near = new Int32Array(outSize);
  const far = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    const position = i * scale;
    const low = Math.floor(position);
    near[i] = origin + low * stride;
    far[i] = origin + Math.min(low + 1, inSize - 1) * stride;
    weights[i] = position - low;
  }
  return [near, far, weights];
}

/**
 * The stored rows and columns whose pixels alignCornersResize reads (at most twice the output's
 * rows and columns), each list in ascending order: every pixel it reads lies on one of these rows
 * and one of these columns, whatever the orientation.
 */
export function alignCornersSampledLines(
  inW: number,
  inH: number,
  outW: number,
  outH: number,
  orientation = 1,
): { rows: Int32Array; columns: Int32Array } {
  const shown = orientedStrides(orientation, inW, inH, 1);
  const [x0s, x1s] = samplePoints(outW, shown.width, shown.strideX, 0, new Float32Array(outW));
  const [tops, bottoms] = samplePoints(outH, shown.height, shown.strideY, shown.base, new Float64Array(outH));
  const rows = new Uint8Array(inH);
  const columns = new Uint8Array(inW);
  const mark = (offset: number) => {
    rows[Math.floor(offset / inW)] = 1;
    columns[offset % inW] = 1;
  };
  // A pixel's stored row comes from one axis' offset and its column from the other's, so each
  // axis' offsets, taken with one of the other axis', mark all of its lines.
  for (const offset of tops) mark(offset + x0s[0]!);
  for (const offset of bottoms) mark(offset + x0s[0]!);
  for (const offset of x0s) mark(tops[0]! + offset);
  for (const offset of x1s) mark(tops[0]! + offset);
  const marked = (lines: Uint8Array) => Int32Array.from(lines.keys()).filter((line) => lines[line] === 1);
  return { rows: marked(rows), columns: marked(columns) };
}

/** Where each output value is sampled from, and how it is scaled (see alignCornersResize). */
interface ResizeGrid {
  outW: number;
  outH: number;
  /** Per output row: the offsets of its top and bottom source rows, and the bottom one's weight. */
  tops: Int32Array;
  bottoms: Int32Array;
  fys: Float64Array;
  /** Per output column: the offsets of its left and right source pixels, and the right one's weight. */
  x0s: Int32Array;
  x1s: Int32Array;
  fxs: Float32Array;
  /** Per source channel: its output slot, multiplier and offset. */
  slot: Int32Array;
  mul: Float64Array;
  add: Float64Array;
}

/** alignCornersResize's loop for any number of channels. */
function anyRows(src: Uint8Array, out: Float32Array, channels: number, grid: ResizeGrid): void {
  const { outW, outH, tops, bottoms, fys, x0s, x1s, fxs, slot, mul, add } = grid;
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const top = tops[y] as number;
    const bottom = bottoms[y] as number;
    const fy = fys[y] as number;
    for (let x = 0; x < outW; x++) {
      const l = x0s[x] as number;
      const r = x1s[x] as number;
      const fx = fxs[x] as number;
      for (let c = 0; c < channels; c++) {
        const tl = src[top + l + c] as number;
        const tr = src[top + r + c] as number;
        const bl = src[bottom + l + c] as number;
        const br = src[bottom + r + c] as number;
        // The order of TF's kernel: along x on both rows, then along y; rounded to float32 as a
        // stored resize would be, then scaled.
        const t = tl + (tr - tl) * fx;
        const b = bl + (br - bl) * fx;
        out[o + (slot[c] as number)] = Math.fround(t + (b - t) * fy) * (mul[c] as number) + (add[c] as number);
      }
      o += channels;
    }
  }
}

/**
 * alignCornersResize's loop for three channels, unrolled (about twice as fast as the general
 * loop): the same arithmetic in the same order, so the same values bit for bit.
 */
function rgbRows(src: Uint8Array, out: Float32Array, grid: ResizeGrid): void {
  const { outW, outH, tops, bottoms, fys, x0s, x1s, fxs } = grid;
  const [s0, s1, s2] = grid.slot as unknown as [number, number, number];
  const [a0, a1, a2] = grid.mul as unknown as [number, number, number];
  const [b0, b1, b2] = grid.add as unknown as [number, number, number];
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const top = tops[y] as number;
    const bottom = bottoms[y] as number;
    const fy = fys[y] as number;
    for (let x = 0; x < outW; x++) {
      const tl = top + (x0s[x] as number);
      const tr = top + (x1s[x] as number);
      const bl = bottom + (x0s[x] as number);
      const br = bottom + (x1s[x] as number);
      const fx = fxs[x] as number;
      let t = (src[tl] as number) + ((src[tr] as number) - (src[tl] as number)) * fx;
      let b = (src[bl] as number) + ((src[br] as number) - (src[bl] as number)) * fx;
      out[o + s0] = Math.fround(t + (b - t) * fy) * a0 + b0;
      t = (src[tl + 1] as number) + ((src[tr + 1] as number) - (src[tl + 1] as number)) * fx;
      b = (src[bl + 1] as number) + ((src[br + 1] as number) - (src[bl + 1] as number)) * fx;
      out[o + s1] = Math.fround(t + (b - t) * fy) * a1 + b1;
      t = (src[tl + 2] as number) + ((src[tr + 2] as number) - (src[tl + 2] as number)) * fx;
      b = (src[bl + 2] as number) + ((src[br + 2] as number) - (src[bl + 2] as number)) * fx;
      out[o + s2] = Math.fround(t + (b - t) * fy) * a2 + b2;
      o += 3;
    }
  }
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
  const kernel = spec.resizeKernel;
  if (kernel === 'alignCorners')
    throw new Error('alignCorners pixels are floats made by makeModelPixels, not a sharp pipeline');
  let pipeline = image.flatten({ background: { r: 255, g: 255, b: 255 } }).resize(spec.width, spec.height, {
    fit: spec.resize,
    position: 'centre',
    background: { r: 0, g: 0, b: 0, alpha: 1 },
    kernel,
    // JPEG/WebP shrink-on-load averages pixels while decoding; point sampling must not get it.
    fastShrinkOnLoad: kernel !== 'nearest',
  });
  pipeline = spec.channels === 1 ? greyOutput(pipeline) : pipeline.toColourspace('srgb');
  return pipeline.removeAlpha().raw({ depth: 'uchar' });
}

/**
 * Greyscale as sharp's `greyscale()` makes it (converted before the resize, in the image's own
 * light), written out as b-w. `greyscale()` alone leaves the output colourspace at sRGB, so sharp
 * turns the grey image back into three bands and takes the first one out again: the same bytes,
 * at a third of the cost of a 32×32 upload's whole pixel pipeline.
 */
function greyOutput(pipeline: Sharp): Sharp {
  return pipeline.greyscale().toColourspace('b-w');
}

export interface ImageToInputOptions {
  /**
   * Refuse images with more pixels than this before decoding them (a decompression bomb guard).
   * @defaultValue 100_000_000
   */
  limitInputPixels?: number;
}

/**
 * An aligned-corners RGB model input from decoded sRGB pixels (a libjpeg-turbo decode, as
 * {@link imageToInput} makes it): the exact resize, read in the pixels' EXIF orientation, and the
 * input's scaling.
 */
export function decodedRgbToInput(
  pixels: Pick<DecodedRgb, 'data' | 'width' | 'height' | 'orientation'>,
  input: ModelInput,
): Float32Array {
  return alignCornersResize(
    pixels.data,
    pixels.width,
    pixels.height,
    3,
    input.width,
    input.height,
    inputScaling(input),
    pixels.orientation,
  );
}

/**
 * Turns encoded image bytes into one model input: decode the first frame, orient per EXIF, make
 * the model's pixels ({@link makeModelPixels}), then scale each value per `input.scale`. Returns
 * height × width × channels floats in row-major HWC order, the layout of an NHWC tensor.
 * Throws PREPROCESSING_FAILED when sharp cannot decode the bytes.
 */
export async function imageToInput(
  bytes: Buffer | Uint8Array,
  input: ModelInput,
  options: ImageToInputOptions = {},
): Promise<Float32Array> {
  const limitInputPixels = options.limitInputPixels ?? 100_000_000;
  // A plain JPEG for an aligned-corners RGB input: libjpeg-turbo's decode (the same bytes as
  // sharp's, at less than half the CPU; see turboJpeg.ts), then the same resize and scaling.
  // A file with an ICC profile takes the same path once its profile has a conversion table: only
  // the pixels the resize reads are converted, by looking them up.
  if (isFloatSpec(input) && input.channels === 3 && input.resize === 'fill') {
    const decode = { maxPixels: limitInputPixels, iccTable: (icc: Buffer) => iccTables.tableFor(icc) };
    const fast = await jpegFastPath(bytes, decode, (pixels) => {
      if (pixels.iccTable) {
        const { width, height, orientation } = pixels;
        const { rows, columns } = alignCornersSampledLines(width, height, input.width, input.height, orientation);
        convertLines(pixels.data, width, rows, columns, pixels.iccTable);
      }
      return decodedRgbToInput(pixels, input);
    }).catch(() => null);
    // Anything libjpeg warned about goes to sharp, whose answer (pixels or refusal) stands.
    if (fast?.clean) return fast.value;
  }
  let raw: ModelPixels;
  try {
    const image = sharp(bytes, {
      pages: 1,
      autoOrient: true,
      failOn: 'error',
      limitInputPixels,
    });
    raw = await makeModelPixels(image, input, inputScaling(input));
  } catch (error) {
    throw new AppError('PREPROCESSING_FAILED', `cannot decode image: ${(error as Error).message}`, { cause: error });
  }
  const { width, height, channels } = raw;
  if (width !== input.width || height !== input.height || channels !== input.channels) {
    throw new AppError(
      'PREPROCESSING_FAILED',
      `decoded to ${width}×${height}×${channels}, expected ${input.width}×${input.height}×${input.channels}`,
    );
  }
  // alignCorners pixels come back scaled already (one pass); 8-bit ones are scaled here.
  return isFloatSpec(input) ? (raw.data as Float32Array) : pixelsToInput(raw.data, input);
}

/**
 * Model input from pixels the API prepared at upload ({@link PreparedPixels}), or undefined when
 * they were made for another spec (the model's input changed since) or are not whole: the caller
 * then decodes the upload with {@link imageToInput}.
 */
export function preparedToInput(prepared: PreparedPixels, input: ModelInput): Float32Array | undefined {
  if (prepared.spec !== pixelSpecKey(input)) return undefined;
  const values = storedPixelValues(prepared.data, input, input.width * input.height * input.channels);
  return values && pixelsToInput(values, input);
}

/**
 * Scales interleaved pixels (RGB or grey; bytes as sharp's raw output, or 0..255 floats from the
 * `alignCorners` resize) into model input values in one pass: `out = pixel * a[c] + b[c]`,
 * reordering to BGR when the model wants it.
 */
export function pixelsToInput(
  pixels: Uint8Array | Float32Array,
  input: Pick<ModelInput, 'channels' | 'scale' | 'channelOrder'>,
): Float32Array {
  const { channels } = input;
  if (pixels.length % channels !== 0)
    throw new AppError('PREPROCESSING_FAILED', `${pixels.length} bytes are not whole ${channels}-channel pixels`);
  const { a, b, sourceOf } = inputScaling(input);
  const out = new Float32Array(pixels.length);
  const n = pixels.length;
  if (channels === 1) {
    const a0 = a[0] as number;
    const b0 = b[0] as number;
    for (let i = 0; i < n; i++) out[i] = (pixels[i] as number) * a0 + b0;
    return out;
  }
  const [a0, a1, a2] = a as [number, number, number];
  const [b0, b1, b2] = b as [number, number, number];
  const [s0, , s2] = sourceOf as [number, number, number];
  for (let i = 0; i < n; i += 3) {
    out[i] = (pixels[i + s0] as number) * a0 + b0;
    out[i + 1] = (pixels[i + 1] as number) * a1 + b1;
    out[i + 2] = (pixels[i + s2] as number) * a2 + b2;
  }
  return out;
}

/**
 * How pixel values become model input: `out[d] = pixel[sourceOf[d]] * a[d] + b[d]` for each output
 * channel `d` (RGB in, the model's channel order out).
 */
export interface InputScaling {
  a: readonly number[];
  b: readonly number[];
  /** The source channel of each output channel: identity for RGB and grey, reversed for BGR. */
  sourceOf: readonly number[];
}

/** The model input's scaling (see {@link InputScaling}). */
export function inputScaling(input: Pick<ModelInput, 'channels' | 'scale' | 'channelOrder'>): InputScaling {
  const [a, b] = affineFor(input.scale, input.channels);
  const sourceOf = Array.from({ length: input.channels }, (_, c) => c);
  if (input.channelOrder === 'bgr' && input.channels === 3) sourceOf.reverse();
  return { a, b, sourceOf };
}

/** Per-channel multiplier and offset for a scale mode; mean/std are in the model's channel order. */
function affineFor(scale: InputScale, channels: number): [number[], number[]] {
  const a: number[] = [];
  const b: number[] = [];
  for (let c = 0; c < channels; c++) {
    switch (scale.mode) {
      case 'divide':
        a.push(1 / scale.divisor);
        b.push(0);
        break;
      case 'centered':
        a.push(1 / 127.5);
        b.push(-1);
        break;
      case 'meanStd': {
        const mean = scale.mean[c] ?? 0;
        const std = scale.std[c] ?? 1;
        a.push(1 / (255 * std));
        b.push(-mean / std);
        break;
      }
    }
  }
  return [a, b];
}
