import koffi from 'koffi';
import { startsWith } from './imageMetadata.ts';

/**
 * JPEG decoding through libjpeg-turbo's TurboJPEG API (the system's `libturbojpeg.so.0`; Debian
 * and Ubuntu: `libturbojpeg0`), called through koffi, as PyTurboJPEG does from Python.
 *
 * sharp's own build decodes JPEG with mozjpeg inside libvips, at about twice the CPU: a 1024×768
 * photo takes 5.9 ms there and 2.4 ms here, and its Huffman pass at 1/8 scale 3.7 ms against 1.4.
 * The pixels are the same bytes: both run libjpeg's accurate integer IDCT and fancy upsampling.
 *
 * Only what that holds for is decoded here: 8-bit baseline or progressive JPEG in YCbCr or grey,
 * with no ICC profile (sharp converts an embedded profile to sRGB) unless the caller has a table
 * of the profile's conversion and converts what it reads (`iccTable`); the EXIF orientation is
 * handed to the caller, whose resize reads the pixels as shown. Everything else, and every machine
 * without the library, goes on through sharp: {@link jpegFastPath} answers null then.
 * `useJpegDecoder('sharp')` (JPEG_DECODER=sharp) turns this path off.
 */

/** TurboJPEG constants (turbojpeg.h). */
const TJPF_RGB = 0;
const TJFLAG_FASTUPSAMPLE = 256;
const TJFLAG_FASTDCT = 2048;
const TJFLAG_ACCURATEDCT = 4096;
/** A progressive file of more than 500 scans fails here (and goes to sharp, with its timeout). */
const TJFLAG_LIMITSCANS = 32768;
const TJCS_YCbCr = 1;
const TJCS_GRAY = 2;
const TJERR_WARNING = 0;

/** tjDecompress2's arguments: handle, JPEG bytes and size, output, width, pitch, height, pixel format, flags. */
type DecompressArgs = [
  handle: unknown,
  jpeg: Uint8Array,
  size: number,
  out: Uint8Array,
  width: number,
  pitch: number,
  height: number,
  format: number,
  flags: number,
];

interface Binding {
  init: () => unknown;
  header: (
    handle: unknown,
    jpeg: Uint8Array,
    size: number,
    width: number[],
    height: number[],
    subsampling: number[],
    colorspace: number[],
  ) => number;
  /** tjDecompress2, called on this thread or (`.async`) in libuv's pool. */
  decompress: ((...args: DecompressArgs) => number) & {
    async: (...args: [...DecompressArgs, done: (error: unknown, result: number) => void]) => void;
  };
  destroy: (handle: unknown) => number;
  errorCode: (handle: unknown) => number;
}

let loaded: Binding | null | undefined;
let choice: JpegDecoderChoice = 'auto';

/** `auto`: libjpeg-turbo where the library loads, sharp elsewhere; `sharp`: sharp alone. */
export type JpegDecoderChoice = 'auto' | 'sharp';

/**
 * Picks the JPEG decoder for this process (the JPEG_DECODER setting); call it at start, before the
 * first image. Returns the one in use.
 */
export function useJpegDecoder(decoder: JpegDecoderChoice): 'libjpeg-turbo' | 'sharp' {
  choice = decoder;
  loaded = undefined;
  return jpegDecoderName();
}

function load(): Binding | null {
  if (loaded !== undefined) return loaded;
  if (choice === 'sharp') return (loaded = null);
  try {
    const lib = koffi.load('libturbojpeg.so.0');
    loaded = {
      init: lib.func('void *tjInitDecompress()') as Binding['init'],
      header: lib.func(
        'int tjDecompressHeader3(void *handle, const uint8_t *jpeg, unsigned long size, _Out_ int *width, _Out_ int *height, _Out_ int *subsampling, _Out_ int *colorspace)',
      ) as Binding['header'],
      decompress: lib.func(
        'int tjDecompress2(void *handle, const uint8_t *jpeg, unsigned long size, _Out_ uint8_t *out, int width, int pitch, int height, int format, int flags)',
      ) as unknown as Binding['decompress'],
      destroy: lib.func('int tjDestroy(void *handle)') as Binding['destroy'],
      errorCode: lib.func('int tjGetErrorCode(void *handle)') as Binding['errorCode'],
    };
  } catch {
    loaded = null;
  }
  return loaded;
}

/** Which JPEG decoder this process uses for what it can: `libjpeg-turbo` or `sharp`. */
export function jpegDecoderName(): 'libjpeg-turbo' | 'sharp' {
  return load() ? 'libjpeg-turbo' : 'sharp';
}

/**
 * A decompressor and its output buffer. A TurboJPEG handle serves one call at a time, so each
 * decode in flight takes its own; idle ones are kept (up to `maxIdle`), with their buffers, so a
 * busy worker does not allocate 2.4 MB of pixels per photo for the collector to find.
 */
interface Decompressor {
  handle: unknown;
  buffer: Buffer;
}

const idle: Decompressor[] = [];
/** As many as the libuv pool runs at once by default; a burst beyond it frees its extra handles. */
const maxIdle = 4;
/** A kept buffer holds at most a 16 MB decode (5 MP of RGB); a larger one goes with its image. */
const maxKeptBytes = 16 * 1024 * 1024;

function acquire(binding: Binding): Decompressor {
  const taken = idle.pop() ?? { handle: binding.init(), buffer: Buffer.alloc(0) };
  if (!taken.handle) throw new Error('tjInitDecompress failed');
  return taken;
}

function release(binding: Binding, decompressor: Decompressor): void {
  if (idle.length >= maxIdle) {
    binding.destroy(decompressor.handle);
    return;
  }
  if (decompressor.buffer.length > maxKeptBytes) decompressor.buffer = Buffer.alloc(0);
  idle.push(decompressor);
}

/** Decompressors kept for the next decodes (for tests). */
export function idleJpegDecompressors(): number {
  return idle.length;
}

const isJpeg = (bytes: Uint8Array) => bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8;

/** One marker segment before the first scan: its marker, and where its payload starts and ends. */
interface HeaderSegment {
  marker: number;
  payload: number;
  end: number;
}

/**
 * The marker segments of a JPEG before its first scan (SOS), in order; null when `bytes` are not a
 * JPEG or its framing breaks off before the first scan (a segment past the end, a byte where a
 * marker should be, a marker without a length, which has no place there).
 */
function headerSegments(bytes: Uint8Array): HeaderSegment[] | null {
  if (!isJpeg(bytes)) return null;
  const segments: HeaderSegment[] = [];
  let at = 2;
  for (;;) {
    if (at + 4 > bytes.length || bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xda) return segments; // the first scan: every header segment has been seen
    if (marker === 0xd8 || marker === 0xd9 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) return null;
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const end = at + 2 + length;
    if (length < 2 || end > bytes.length) return null;
    segments.push({ marker, payload: at + 4, end });
    at = end;
  }
}

const isExif = (bytes: Uint8Array, segment: HeaderSegment) =>
  segment.marker === 0xe1 && startsWith(bytes, segment.payload, 'Exif\0\0');

/**
 * IFD0's Orientation of the first EXIF segment (the one libvips reads): 1 to 8, 1 without EXIF,
 * 0 when it cannot be read or is out of range.
 */
function orientationIn(bytes: Uint8Array, segments: HeaderSegment[]): number {
  const exif = segments.find((segment) => isExif(bytes, segment));
  if (!exif) return 1;
  const orientation = exifOrientation(bytes, exif.payload + 6, exif.end - exif.payload - 6);
  return orientation >= 1 && orientation <= 8 ? orientation : 0;
}

const isIccChunk = (bytes: Uint8Array, segment: HeaderSegment) =>
  segment.marker === 0xe2 && startsWith(bytes, segment.payload, 'ICC_PROFILE\0');

/**
 * The EXIF orientation (1 to 8; 1 without EXIF) read from the framing before the first scan, and
 * the ICC profile if there is one; orientation 0 when the framing or the orientation cannot be
 * read, or there is a profile and `withIcc` is false or the profile is not one this path converts
 * (see {@link rgbIccProfile}).
 */
function framedOrientation(bytes: Uint8Array, withIcc: boolean): { orientation: number; icc?: Buffer } {
  const segments = headerSegments(bytes);
  if (!segments) return { orientation: 0 };
  if (!segments.some((segment) => isIccChunk(bytes, segment))) return { orientation: orientationIn(bytes, segments) };
  const icc = withIcc ? rgbIccProfile(bytes, segments) : null;
  return icc ? { orientation: orientationIn(bytes, segments), icc } : { orientation: 0 };
}

/**
 * The ICC profile a JPEG carries in its APP2 chunks, put together in their sequence order, as
 * libjpeg's jpeg_read_icc_profile (which libvips uses) reads it; null unless every chunk is there
 * exactly once with one count, and the profile's data are RGB: a grey, CMYK or broken profile is
 * left to sharp, which decides what to do with it.
 */
function rgbIccProfile(bytes: Uint8Array, segments: HeaderSegment[]): Buffer | null {
  const header = 'ICC_PROFILE\0'.length + 2;
  const chunks = segments.filter((segment) => isIccChunk(bytes, segment));
  const count = chunks[0]!.end - chunks[0]!.payload >= header ? bytes[chunks[0]!.payload + header - 1]! : 0;
  if (count === 0 || chunks.length !== count) return null;
  const ordered: Array<Uint8Array | undefined> = Array.from({ length: count });
  for (const chunk of chunks) {
    if (chunk.end - chunk.payload < header) return null;
    const seq = bytes[chunk.payload + header - 2]!;
    if (bytes[chunk.payload + header - 1] !== count || seq < 1 || seq > count || ordered[seq - 1]) return null;
    ordered[seq - 1] = bytes.subarray(chunk.payload + header, chunk.end);
  }
  const profile = Buffer.concat(ordered as Uint8Array[]);
  // The profile header's data colour space (bytes 16–19), and a size that matches.
  if (profile.length < 128 || profile.readUInt32BE(0) !== profile.length) return null;
  return profile.toString('latin1', 16, 20) === 'RGB ' ? profile : null;
}

/** IFD0's Orientation (0x0112) in a TIFF structure; 1 when absent, 0 when it cannot be read. */
function exifOrientation(bytes: Uint8Array, start: number, length: number): number {
  if (length < 8 || start + length > bytes.length) return 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, length);
  const little = view.getUint16(0) === 0x4949;
  if (!little && view.getUint16(0) !== 0x4d4d) return 0;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > length) return 0;
  const entries = view.getUint16(ifd, little);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > length) return 0;
    // One SHORT, as the standard has it; anything else is left to sharp.
    if (view.getUint16(entry, little) === 0x0112)
      return view.getUint16(entry + 2, little) === 3 && view.getUint32(entry + 4, little) === 1
        ? view.getUint16(entry + 8, little)
        : 0;
  }
  return 1;
}

/** A JPEG's header as read by {@link plainJpegHeader}. */
export interface PlainJpegHeader {
  width: number;
  height: number;
  /** 1 (grey) or 3 (YCbCr). */
  channels: 1 | 3;
  /** The EXIF orientation, 1 to 8 (1 without EXIF). */
  orientation: number;
  /** The payloads of the first EXIF, the XMP and the IPTC (Photoshop) segments, where present. */
  exif?: Buffer;
  xmp?: Buffer;
  iptc?: Buffer;
}

/** SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC). */
const isFrameMarker = (marker: number) =>
  marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/**
 * The header of a plain 8-bit JPEG (one frame, grey or YCbCr, an EXIF orientation read from one
 * SHORT), from its framing and libjpeg's header read, without libvips: what sharp's metadata()
 * would report of it. Null for anything else, or when libjpeg-turbo is not in use: the caller then
 * asks sharp.
 */
export function plainJpegHeader(bytes: Buffer): PlainJpegHeader | null {
  const binding = load();
  const segments = binding ? headerSegments(bytes) : null;
  if (!binding || !segments) return null;
  const frames = segments.filter((segment) => isFrameMarker(segment.marker));
  const orientation = orientationIn(bytes, segments);
  if (frames.length !== 1 || frames[0]!.end - frames[0]!.payload < 6 || orientation === 0) return null;
  const { payload } = frames[0]!;
  const frame = {
    precision: bytes[payload]!,
    height: (bytes[payload + 1]! << 8) | bytes[payload + 2]!,
    width: (bytes[payload + 3]! << 8) | bytes[payload + 4]!,
    components: bytes[payload + 5]!,
  };
  if (frame.precision !== 8 || (frame.components !== 1 && frame.components !== 3)) return null;
  if (frame.width === 0 || frame.height === 0) return null; // a height given later (DNL)
  // libjpeg reads the same header (its tables included), as libvips would before any decode.
  const width = [0];
  const height = [0];
  const colorspace = [0];
  const decompressor = acquire(binding);
  try {
    if (binding.header(decompressor.handle, bytes, bytes.length, width, height, [0], colorspace) !== 0) return null;
  } finally {
    release(binding, decompressor);
  }
  const space = colorspace[0];
  if (width[0] !== frame.width || height[0] !== frame.height) return null;
  if (!(frame.components === 1 ? space === TJCS_GRAY : space === TJCS_YCbCr)) return null;
  // The first segment of each kind, as libvips keeps them.
  const found: Pick<PlainJpegHeader, 'exif' | 'xmp' | 'iptc'> = {};
  for (const [kind, marker, prefix] of [
    ['exif', 0xe1, 'Exif\0\0'],
    ['xmp', 0xe1, 'http://ns.adobe.com/xap/1.0/\0'],
    ['iptc', 0xed, 'Photoshop 3.0\0'],
  ] as const) {
    const segment = segments.find((s) => s.marker === marker && startsWith(bytes, s.payload, prefix));
    if (segment) found[kind] = bytes.subarray(segment.payload, segment.end);
  }
  return { width: frame.width, height: frame.height, channels: frame.components as 1 | 3, orientation, ...found };
}

export interface DecodedRgb {
  /** width × height × 3 bytes, interleaved RGB, as stored; valid only inside the callback. */
  data: Buffer;
  width: number;
  height: number;
  /** The EXIF orientation to show them in (1 to 8), applied by the caller; 1 with `checkOnly`. */
  orientation: number;
  /**
   * The table `iccTable` gave for the file's ICC profile: the pixels are then as stored, in that
   * profile's colours, and the caller converts what it reads to sRGB, as sharp would all of them.
   */
  iccTable?: Uint8Array;
}

export interface JpegFastPathOptions {
  /** Refuse (null) images with more pixels than this before decoding. */
  maxPixels: number;
  /** DCT-domain scaling: 8, 4 or 2 decodes at 1/8, 1/4 or 1/2 of each side (every Huffman symbol still read). @defaultValue 1 */
  shrink?: 1 | 2 | 4 | 8;
  /**
   * libjpeg's cheaper steps: its fast integer IDCT (`dct`) and chroma upsampling by replication
   * (`upsample`). The platform decodes without them, as sharp does: on nsfw they move scores by up
   * to 0.06 and save at most 0.2 ms of a 1024×768 photo's 3 (`pnpm bench decode`). @defaultValue none
   */
  fast?: { dct?: boolean; upsample?: boolean };
  /**
   * Only whether the file decodes matters, not its colours or orientation: an ICC profile or an
   * EXIF rotation does not send the file to sharp. @defaultValue false
   */
  checkOnly?: boolean;
  /**
   * Decode on the calling thread rather than in libuv's pool. The platform does not: with decodes
   * in parallel the pool's wake-ups are shared, and even a 64×64 JPEG's check costs the calling
   * thread more here than a trip through the pool (`pnpm bench validate`). @defaultValue false
   */
  blocking?: boolean;
  /**
   * A file with an RGB ICC profile is decoded too, as stored, when this gives a conversion table
   * for its profile (handed over as DecodedRgb.iccTable). @defaultValue none: such a file goes to sharp
   */
  iccTable?: (profile: Buffer) => Uint8Array | undefined;
}

/** The outcome of a fast-path decode: `clean` when libjpeg raised not even a warning. */
export interface FastDecode<T> {
  value: T;
  clean: boolean;
}

/**
 * Decodes `bytes` to RGB with libjpeg-turbo and hands the pixels to `use` (synchronously, before
 * the buffer goes back to the pool). Null when this path does not apply (no library, not a plain
 * JPEG as described in the module comment, too many pixels) or libjpeg failed outright: the
 * caller then decodes with sharp, which gives the same pixels or the same refusal. A warning
 * (a truncated or corrupt entropy stream) still yields the whole image, as libjpeg fills what is
 * missing, and comes back with `clean: false`.
 */
export async function jpegFastPath<T>(
  bytes: Uint8Array,
  options: JpegFastPathOptions,
  use: (pixels: DecodedRgb) => T,
): Promise<FastDecode<T> | null> {
  const binding = load();
  const framed = options.checkOnly
    ? { orientation: isJpeg(bytes) ? 1 : 0 }
    : framedOrientation(bytes, options.iccTable !== undefined);
  const { orientation } = framed;
  if (!binding || orientation === 0) return null;
  const iccTable = framed.icc && options.iccTable?.(framed.icc);
  if (framed.icc && !iccTable) return null;
  const width = [0];
  const height = [0];
  const subsampling = [0];
  const colorspace = [0];
  const shrink = options.shrink ?? 1;
  const decompressor = acquire(binding);
  try {
    if (binding.header(decompressor.handle, bytes, bytes.length, width, height, subsampling, colorspace) !== 0)
      return null;
    const [w, h, space] = [width[0]!, height[0]!, colorspace[0]!];
    if ((space !== TJCS_YCbCr && space !== TJCS_GRAY) || w * h > options.maxPixels) return null;
    // An RGB profile on a grey image: libvips does not apply it; sharp decides.
    if (iccTable && space !== TJCS_YCbCr) return null;
    // TurboJPEG scales by what fits the size asked for: ceil(side / 8) is its 1/8.
    const outW = Math.ceil(w / shrink);
    const outH = Math.ceil(h / shrink);
    const size = outW * outH * 3;
    if (decompressor.buffer.length < size) decompressor.buffer = Buffer.allocUnsafe(size);
    const out = decompressor.buffer;
    const flags =
      (options.fast?.dct ? TJFLAG_FASTDCT : TJFLAG_ACCURATEDCT) |
      (options.fast?.upsample ? TJFLAG_FASTUPSAMPLE : 0) |
      TJFLAG_LIMITSCANS;
    const handle = decompressor.handle;
    const status = options.blocking
      ? binding.decompress(handle, bytes, bytes.length, out, outW, 0, outH, TJPF_RGB, flags)
      : await new Promise<number>((resolve, reject) =>
          binding.decompress.async(handle, bytes, bytes.length, out, outW, 0, outH, TJPF_RGB, flags, (error, result) =>
            error ? reject(error as Error) : resolve(result),
          ),
        );
    if (status !== 0 && binding.errorCode(decompressor.handle) !== TJERR_WARNING) return null;
    return {
      value: use({
        data: out.subarray(0, size),
        width: outW,
        height: outH,
        orientation,
        ...(iccTable ? { iccTable } : {}),
      }),
      clean: status === 0,
    };
  } finally {
    release(binding, decompressor);
  }
}
