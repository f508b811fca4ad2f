import { crc32 } from 'node:zlib';
import type { ImageFormat } from '@inferq/core';

/**
 * Embedded metadata, read and removed by walking the format's framing only (no decode, no
 * re-encode: the pixels are stored byte for byte as they came).
 *
 * - {@link framedMetadataBytes} counts every metadata segment of the file, however many there
 *   are: JPEG APPn and COM segments (also those between the scans of a progressive file), PNG
 *   text, EXIF, ICC, time and unknown ancillary chunks, WebP EXIF, XMP, ICC and unknown chunks,
 *   GIF comments and application extensions other than the loop count. A decoder reports one
 *   blob of each kind; a file can carry hundreds of them.
 * - {@link withoutPrivateMetadata} drops what can say who took an image, where and with what
 *   (EXIF with its GPS, Artist, Copyright and maker notes; XMP; IPTC and Photoshop resources;
 *   comments and text chunks), keeping what the image needs to look the same: the ICC colour
 *   profile, JFIF and Adobe colour-transform segments, and the EXIF orientation, rewritten as a
 *   minimal EXIF holding that one tag, so the stored image still displays upright.
 */

/** The EXIF Orientation tag (IFD0 0x0112) of a value 2 to 8; 1 (or none) needs no EXIF at all. */
function orientationTiff(orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('MM\0*', 0, 'latin1');
  tiff.writeUInt32BE(8, 4); // IFD0 right after the header
  tiff.writeUInt16BE(1, 8); // one entry
  tiff.writeUInt16BE(0x0112, 10);
  tiff.writeUInt16BE(3, 12); // SHORT
  tiff.writeUInt32BE(1, 14); // one value, held in the entry
  tiff.writeUInt16BE(orientation, 18);
  tiff.writeUInt32BE(0, 22); // no next IFD
  return tiff;
}

const keepsOrientation = (orientation: number | undefined): orientation is number =>
  orientation !== undefined && Number.isInteger(orientation) && orientation >= 2 && orientation <= 8;

/** Whether `bytes` hold the Latin-1 `text` at `at`. */
export function startsWith(bytes: Uint8Array, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at] ?? 0, bytes[at + 1] ?? 0, bytes[at + 2] ?? 0, bytes[at + 3] ?? 0);
}

/** Bytes of every metadata segment in `bytes` (the image proper), by its framing; null where it cannot be walked. */
export function framedMetadataBytes(bytes: Uint8Array, format: ImageFormat): number | null {
  const pieces = piecesOf(bytes, format);
  return pieces === null
    ? null
    : pieces.reduce((sum, piece) => sum + (piece.kind === 'image' ? 0 : piece.end - piece.start), 0);
}

/**
 * `image` (the image proper, already cut at its end) without private metadata, the orientation
 * kept (see the module comment). Returns `image` itself when it had nothing to drop, and null
 * when the format's metadata cannot be removed by rewriting its framing (TIFF) or the framing
 * cannot be walked: the caller then re-encodes. An AVIF's EXIF and XMP items are overwritten in
 * place instead (their offsets are referenced from elsewhere in the file, so nothing is cut); its
 * orientation lives in the irot and imir properties, which stay.
 */
export function withoutPrivateMetadata(
  image: Buffer,
  format: ImageFormat,
  orientation: number | undefined,
): Buffer | null {
  if (format === 'avif') return scrubbedAvif(image);
  const pieces = piecesOf(image, format);
  if (pieces === null) return null;
  if (!pieces.some((piece) => piece.kind === 'private')) return image;
  const kept = keepsOrientation(orientation) ? orientation : undefined;
  switch (format) {
    case 'jpeg':
      return rebuildJpeg(image, pieces, kept);
    case 'png':
      return rebuildPng(image, pieces, kept);
    case 'webp':
      return rebuildWebp(image, pieces, kept);
    case 'gif':
      return Buffer.concat(
        pieces.filter((piece) => piece.kind !== 'private').map((piece) => image.subarray(piece.start, piece.end)),
      );
    default:
      return null;
  }
}

/**
 * A stretch of the file: `image` (pixels, structure, anything the picture needs), `kept` metadata
 * (colour profiles, JFIF, Adobe: counted, never dropped) or `private` metadata (dropped).
 */
interface Piece {
  kind: 'image' | 'kept' | 'private';
  start: number;
  end: number;
  /** JPEG marker, PNG or RIFF chunk type, GIF label. */
  type: string;
}

function piecesOf(bytes: Uint8Array, format: ImageFormat): Piece[] | null {
  switch (format) {
    case 'jpeg':
      return jpegPieces(bytes);
    case 'png':
      return pngPieces(bytes);
    case 'webp':
      return webpPieces(bytes);
    case 'gif':
      return gifPieces(bytes);
    default:
      // AVIF and TIFF keep their metadata in item tables and directories that point into the
      // file: no segment can be cut out. The decoder's report counts them.
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// JPEG: SOI, marker segments, scans (entropy-coded data up to the next real marker), EOI.

function jpegPieces(bytes: Uint8Array): Piece[] | null {
  const n = bytes.length;
  if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  const pieces: Piece[] = [{ kind: 'image', start: 0, end: 2, type: 'SOI' }];
  let at = 2;
  while (at < n) {
    const start = at;
    if (bytes[at] !== 0xff) return null;
    while (at < n && bytes[at] === 0xff) at++; // fill bytes
    const marker = bytes[at];
    if (marker === undefined) return null;
    at++;
    if (marker === 0xd9) {
      pieces.push({ kind: 'image', start, end: at, type: 'EOI' });
      return pieces;
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pieces.push({ kind: 'image', start, end: at, type: 'RST' });
      continue;
    }
    if (at + 2 > n) return null;
    const segmentStart = at;
    let end = at + ((bytes[at]! << 8) | bytes[at + 1]!);
    if (end > n) return null;
    if (marker === 0xda) {
      // The scan's entropy-coded data belongs to it: up to the next marker that is not a stuffed
      // 0xFF00 or a restart marker.
      for (;;) {
        end = bytes.indexOf(0xff, end);
        if (end === -1 || end + 1 >= n) return null;
        const next = bytes[end + 1] as number;
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) end += 2;
        else if (next === 0xff) end++;
        else break;
      }
      pieces.push({ kind: 'image', start, end, type: 'SOS' });
    } else if ((marker >= 0xe0 && marker <= 0xef) || marker === 0xfe) {
      const payload = segmentStart + 2;
      // JFIF (APP0), the ICC profile (APP2) and Adobe's colour transform (APP14) change how the
      // pixels look; every other APPn (EXIF, XMP, MPF, IPTC, maker data) and COM is private.
      const kept =
        (marker === 0xe0 && (startsWith(bytes, payload, 'JFIF\0') || startsWith(bytes, payload, 'JFXX\0'))) ||
        (marker === 0xe2 && startsWith(bytes, payload, 'ICC_PROFILE\0')) ||
        (marker === 0xee && startsWith(bytes, payload, 'Adobe'));
      pieces.push({
        kind: kept ? 'kept' : 'private',
        start,
        end,
        type: marker === 0xfe ? 'COM' : `APP${marker - 0xe0}`,
      });
    } else {
      pieces.push({ kind: 'image', start, end, type: marker.toString(16) });
    }
    at = end;
  }
  return null;
}

function rebuildJpeg(image: Buffer, pieces: Piece[], orientation: number | undefined): Buffer {
  const out: Buffer[] = [];
  for (const [index, piece] of pieces.entries()) {
    if (piece.kind !== 'private') out.push(image.subarray(piece.start, piece.end));
    // The orientation right after SOI, or after a leading JFIF APP0 (which must come first).
    const leading =
      index === 0
        ? pieces[1]?.type !== 'APP0' || pieces[1]?.kind !== 'kept'
        : index === 1 && piece.type === 'APP0' && piece.kind === 'kept';
    if (orientation !== undefined && leading) {
      const tiff = orientationTiff(orientation);
      const header = Buffer.alloc(10);
      header.writeUInt16BE(0xffe1, 0);
      header.writeUInt16BE(2 + 6 + tiff.length, 2);
      header.write('Exif\0\0', 4, 'latin1');
      out.push(header, tiff);
    }
  }
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------
// PNG: signature, then chunks (length, type, data, CRC) to IEND.

/** Chunks that shape the picture (its pixels, palette, transparency, colour, animation). */
const pngImageChunks = new Set([
  'IHDR',
  'PLTE',
  'IDAT',
  'IEND',
  'tRNS',
  'gAMA',
  'cHRM',
  'sRGB',
  'sBIT',
  'bKGD',
  'pHYs',
  'hIST',
  'sPLT',
  'acTL',
  'fcTL',
  'fdAT',
  'cICP',
  'mDCV',
  'mDCv',
  'cLLI',
  'cLLi',
]);

function pngPieces(bytes: Uint8Array): Piece[] | null {
  const pieces: Piece[] = [{ kind: 'image', start: 0, end: 8, type: 'signature' }];
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = (((bytes[at]! << 24) >>> 0) + (bytes[at + 1]! << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!) >>> 0;
    const type = fourcc(bytes, at + 4);
    const end = at + 12 + length;
    if (end > bytes.length) return null;
    // An unknown critical chunk (upper-case first letter) is the decoder's to refuse, not metadata.
    const critical = type.charCodeAt(0) < 0x61;
    const kind = pngImageChunks.has(type) || critical ? 'image' : type === 'iCCP' ? 'kept' : 'private';
    pieces.push({ kind, start: at, end, type });
    if (type === 'IEND') return pieces;
    at = end;
  }
  return null;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

function rebuildPng(image: Buffer, pieces: Piece[], orientation: number | undefined): Buffer {
  const out: Buffer[] = [];
  for (const piece of pieces) {
    if (piece.kind !== 'private') out.push(image.subarray(piece.start, piece.end));
    // eXIf must come before the first IDAT: right after IHDR.
    if (piece.type === 'IHDR' && orientation !== undefined) out.push(pngChunk('eXIf', orientationTiff(orientation)));
  }
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------
// WebP: RIFF header, then chunks (fourcc, little-endian size, data padded to even).

const webpImageChunks = new Set(['VP8 ', 'VP8L', 'VP8X', 'ALPH', 'ANIM', 'ANMF']);

function webpPieces(bytes: Uint8Array): Piece[] | null {
  if (bytes.length < 12 || fourcc(bytes, 0) !== 'RIFF' || fourcc(bytes, 8) !== 'WEBP') return null;
  const pieces: Piece[] = [{ kind: 'image', start: 0, end: 12, type: 'RIFF' }];
  let at = 12;
  while (at + 8 <= bytes.length) {
    const type = fourcc(bytes, at);
    const size =
      (bytes[at + 4]! + (bytes[at + 5]! << 8) + (bytes[at + 6]! << 16) + ((bytes[at + 7]! << 24) >>> 0)) >>> 0;
    const end = Math.min(bytes.length, at + 8 + size + (size % 2));
    if (at + 8 + size > bytes.length) return null;
    pieces.push({
      kind: webpImageChunks.has(type) ? 'image' : type === 'ICCP' ? 'kept' : 'private',
      start: at,
      end,
      type,
    });
    at = end;
  }
  return at === bytes.length ? pieces : null;
}

function rebuildWebp(image: Buffer, pieces: Piece[], orientation: number | undefined): Buffer | null {
  const out: Buffer[] = [];
  let vp8x: Buffer | undefined;
  for (const piece of pieces.slice(1)) {
    if (piece.kind === 'private') continue;
    const bytes = Buffer.from(image.subarray(piece.start, piece.end));
    if (piece.type === 'VP8X') vp8x = bytes;
    out.push(bytes);
  }
  // Metadata chunks only exist beside a VP8X header, whose flags say which are present.
  if (!vp8x) return null;
  const flags = vp8x[8] as number;
  vp8x[8] = (flags & ~0x0c) | (orientation !== undefined ? 0x08 : 0);
  if (orientation !== undefined) {
    const tiff = orientationTiff(orientation);
    const head = Buffer.alloc(8);
    head.write('EXIF', 0, 'latin1');
    head.writeUInt32LE(tiff.length, 4);
    out.push(head, tiff);
  }
  const body = Buffer.concat(out);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length + 4, 4);
  riff.write('WEBP', 8, 'latin1');
  return Buffer.concat([riff, body]);
}

// ---------------------------------------------------------------------------------------------
// GIF: header and screen descriptor, colour tables, extension and image blocks, the trailer.

function gifPieces(bytes: Uint8Array): Piece[] | null {
  const n = bytes.length;
  if (n < 13) return null;
  const screenFlags = bytes[10] as number;
  let at = 13 + (screenFlags & 0x80 ? 3 * 2 ** ((screenFlags & 0x07) + 1) : 0);
  const pieces: Piece[] = [{ kind: 'image', start: 0, end: at, type: 'header' }];
  const skipSubBlocks = (): boolean => {
    for (;;) {
      if (at >= n) return false;
      const size = bytes[at] as number;
      at += 1 + size;
      if (size === 0) return at <= n;
    }
  };
  while (at < n) {
    const start = at;
    const block = bytes[at];
    if (block === 0x3b) {
      pieces.push({ kind: 'image', start, end: at + 1, type: 'trailer' });
      return pieces;
    }
    if (block === 0x21) {
      const label = bytes[at + 1] as number;
      // An application extension's first sub-block is its 11-byte identifier.
      const loop =
        label === 0xff && (startsWith(bytes, at + 3, 'NETSCAPE2.0') || startsWith(bytes, at + 3, 'ANIMEXTS1.0'));
      at += 2;
      if (!skipSubBlocks()) return null;
      // Comments and application data (XMP among them) are private; the loop count is not.
      pieces.push({
        kind: label === 0xfe || (label === 0xff && !loop) ? 'private' : 'image',
        start,
        end: at,
        type: label.toString(16),
      });
    } else if (block === 0x2c) {
      if (at + 10 > n) return null;
      const flags = bytes[at + 9] as number;
      at += 10 + (flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0);
      at += 1; // LZW minimum code size
      if (!skipSubBlocks()) return null;
      pieces.push({ kind: 'image', start, end: at, type: 'image' });
    } else {
      return null;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// AVIF (ISO BMFF): the meta box lists items (iinf) and where their bytes are (iloc: in the file,
// usually inside mdat, or in the meta box's idat). EXIF and XMP are items of their own.

interface Box {
  type: string;
  /** Where the payload starts (after size and type) and where the box ends. */
  start: number;
  end: number;
}

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + (bytes[at + 1]! << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!;
}

/** An unsigned big-endian integer of `size` bytes (0, 4 or 8; 8 only while it fits a double exactly). */
function uint(bytes: Uint8Array, at: number, size: number): number | null {
  if (size === 0) return 0;
  if (size === 4) return u32(bytes, at);
  if (size === 8) {
    const high = u32(bytes, at);
    return high < 0x200000 ? high * 2 ** 32 + u32(bytes, at + 4) : null;
  }
  return null;
}

/** The boxes between `from` and `to`; null when one does not fit. */
function boxesIn(bytes: Uint8Array, from: number, to: number): Box[] | null {
  const boxes: Box[] = [];
  let at = from;
  while (at + 8 <= to) {
    let size = u32(bytes, at);
    const type = fourcc(bytes, at + 4);
    let start = at + 8;
    if (size === 1) {
      const large = uint(bytes, at + 8, 8);
      if (large === null) return null;
      size = large;
      start += 8;
    } else if (size === 0) {
      size = to - at;
    }
    if (size < start - at || at + size > to) return null;
    boxes.push({ type, start, end: at + size });
    at += size;
  }
  return at === to ? boxes : null;
}

/** The EXIF and XMP items an iinf box lists, by item id. */
function privateItems(bytes: Uint8Array, iinf: Box): Map<number, 'exif' | 'xmp'> | null {
  const version = bytes[iinf.start]!;
  const entries = boxesIn(bytes, iinf.start + 4 + (version === 0 ? 2 : 4), iinf.end);
  if (entries === null) return null;
  const ids = new Map<number, 'exif' | 'xmp'>();
  for (const infe of entries) {
    if (infe.type !== 'infe') continue;
    const infeVersion = bytes[infe.start]!;
    if (infeVersion < 2) continue; // versions 0 and 1 carry no item type
    let at = infe.start + 4;
    const id = infeVersion === 2 ? u16(bytes, at) : u32(bytes, at);
    at += (infeVersion === 2 ? 2 : 4) + 2; // item id, protection index
    const type = fourcc(bytes, at);
    at += 4;
    const nameEnd = bytes.indexOf(0, at);
    let contentType = '';
    if (type === 'mime' && nameEnd !== -1 && nameEnd < infe.end) {
      const typeEnd = bytes.indexOf(0, nameEnd + 1);
      contentType = Buffer.from(
        bytes.subarray(nameEnd + 1, typeEnd === -1 || typeEnd > infe.end ? infe.end : typeEnd),
      ).toString('latin1');
    }
    if (type === 'Exif') ids.set(id, 'exif');
    else if (type === 'mime' && /xmp|rdf\+xml/i.test(contentType)) ids.set(id, 'xmp');
  }
  return ids;
}

/** The byte ranges (in the file) of the items `ids`, by the iloc box; null when they cannot be told. */
function itemRanges(
  bytes: Uint8Array,
  iloc: Box,
  ids: ReadonlyMap<number, 'exif' | 'xmp'>,
  idat: Box | undefined,
): Array<{ kind: 'exif' | 'xmp'; start: number; end: number }> | null {
  const version = bytes[iloc.start]!;
  let at = iloc.start + 4;
  const offsetSize = bytes[at]! >> 4;
  const lengthSize = bytes[at]! & 0x0f;
  const baseOffsetSize = bytes[at + 1]! >> 4;
  const indexSize = version >= 1 ? bytes[at + 1]! & 0x0f : 0;
  at += 2;
  const count = version < 2 ? u16(bytes, at) : u32(bytes, at);
  at += version < 2 ? 2 : 4;
  const ranges: Array<{ kind: 'exif' | 'xmp'; start: number; end: number }> = [];
  for (let item = 0; item < count; item++) {
    if (at > iloc.end) return null;
    const id = version < 2 ? u16(bytes, at) : u32(bytes, at);
    at += version < 2 ? 2 : 4;
    const method = version >= 1 ? u16(bytes, at) & 0x0f : 0;
    if (version >= 1) at += 2;
    at += 2; // data reference index
    const base = uint(bytes, at, baseOffsetSize);
    at += baseOffsetSize;
    const extents = u16(bytes, at);
    at += 2;
    for (let extent = 0; extent < extents; extent++) {
      at += indexSize;
      const offset = uint(bytes, at, offsetSize);
      at += offsetSize;
      const length = uint(bytes, at, lengthSize);
      at += lengthSize;
      const kind = ids.get(id);
      if (kind === undefined) continue;
      if (
        base === null ||
        offset === null ||
        length === null ||
        (method !== 0 && method !== 1) ||
        (method === 1 && !idat)
      )
        return null;
      const start = (method === 1 ? idat!.start : 0) + base + offset;
      // A length of 0 means "to the end of the file" (or of idat).
      const end = length === 0 ? (method === 1 ? idat!.end : bytes.length) : start + length;
      if (end > (method === 1 ? idat!.end : bytes.length)) return null;
      ranges.push({ kind, start, end });
    }
  }
  return at <= iloc.end ? ranges : null;
}

/**
 * The AVIF with its EXIF and XMP items overwritten in place: the EXIF item keeps a valid, empty
 * EXIF (its 4-byte header offset, then a TIFF header with no entries), the XMP item becomes spaces.
 * Every offset in the file stays right. `image` itself when it has no such item; null when the
 * boxes cannot be read.
 */
function scrubbedAvif(image: Buffer): Buffer | null {
  const top = boxesIn(image, 0, image.length);
  const meta = top?.find((box) => box.type === 'meta');
  if (!top || !meta) return null;
  const children = boxesIn(image, meta.start + 4, meta.end);
  const iinf = children?.find((box) => box.type === 'iinf');
  const iloc = children?.find((box) => box.type === 'iloc');
  if (!children || !iinf || !iloc) return null;
  const ids = privateItems(image, iinf);
  if (ids === null) return null;
  if (ids.size === 0) return image;
  const ranges = itemRanges(
    image,
    iloc,
    ids,
    children.find((box) => box.type === 'idat'),
  );
  if (ranges === null) return null;
  const out = Buffer.from(image);
  // The EXIF item: a 4-byte offset to the TIFF header (0), then a TIFF header whose one
  // directory has no entries; zeros after it. Decoders read an empty EXIF, not a broken one.
  const emptyExif = Buffer.concat([
    Buffer.alloc(4),
    Buffer.from('MM\0*', 'latin1'),
    Buffer.from([0, 0, 0, 8, 0, 0, 0, 0, 0, 0]),
  ]);
  for (const { kind, start, end } of ranges) {
    if (kind === 'xmp') {
      out.fill(0x20, start, end);
    } else {
      out.fill(0, start, end);
      // Each extent starts with it: an item is one extent in practice, and zeros are zeros.
      if (end - start >= emptyExif.length) emptyExif.copy(out, start);
    }
  }
  return out;
}
