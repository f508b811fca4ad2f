import type { ImageFormat } from '@inferq/core';

/**
 * Where an image file ends by its own structure, so bytes appended after it (a ZIP, a PHP or HTML
 * payload: a polyglot) are never stored or served back. Walks the format's framing only, with no
 * decoding: PNG chunks to IEND, JPEG segments and scans to EOI, GIF blocks to the trailer, the
 * RIFF size of WebP, the top-level boxes of AVIF. TIFF has no end marker, so its end is the
 * furthest byte any of its directories, values, strips or tiles reach (classic TIFF; BigTIFF gets
 * null). A file whose framing cannot be walked gets null.
 *
 * @returns the byte length of the image proper, or null when it cannot be told
 */
export function imageByteLength(bytes: Uint8Array, format: ImageFormat): number | null {
  switch (format) {
    case 'png':
      return pngLength(bytes);
    case 'jpeg':
      return jpegLength(bytes);
    case 'gif':
      return gifLength(bytes);
    case 'webp':
      return webpLength(bytes);
    case 'avif':
      return isoBmffLength(bytes);
    case 'tiff':
      return tiffLength(bytes);
  }
}

function u16be(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
}

function u32be(bytes: Uint8Array, at: number): number {
  return (
    (((bytes[at] ?? 0) << 24) >>> 0) + ((bytes[at + 1] ?? 0) << 16) + ((bytes[at + 2] ?? 0) << 8) + (bytes[at + 3] ?? 0)
  );
}

function u32le(bytes: Uint8Array, at: number): number {
  return (
    (bytes[at] ?? 0) + ((bytes[at + 1] ?? 0) << 8) + ((bytes[at + 2] ?? 0) << 16) + (((bytes[at + 3] ?? 0) << 24) >>> 0)
  );
}

function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at] ?? 0, bytes[at + 1] ?? 0, bytes[at + 2] ?? 0, bytes[at + 3] ?? 0);
}

/** 8-byte signature, then chunks (length, type, data, CRC) up to and including IEND. */
function pngLength(bytes: Uint8Array): number | null {
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = u32be(bytes, at);
    const type = fourcc(bytes, at + 4);
    const end = at + 12 + length;
    if (end > bytes.length) return null;
    if (type === 'IEND') return end;
    at = end;
  }
  return null;
}

/**
 * SOI, then marker segments (their length skips embedded data such as an EXIF thumbnail with its
 * own EOI); after each SOS the entropy-coded data runs to the next marker that is not a stuffed
 * 0xFF00 or a restart marker; EOI ends the file.
 */
function jpegLength(bytes: Uint8Array): number | null {
  let at = 2;
  const n = bytes.length;
  while (at < n) {
    if (bytes[at] !== 0xff) return null;
    while (at < n && bytes[at] === 0xff) at++; // fill bytes
    const marker = bytes[at];
    if (marker === undefined) return null;
    at++;
    if (marker === 0xd9) return at;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue;
    if (at + 2 > n) return null;
    const segmentEnd = at + u16be(bytes, at);
    if (segmentEnd > n) return null;
    at = segmentEnd;
    if (marker !== 0xda) continue;
    // Entropy-coded data: stop at a real marker.
    for (;;) {
      // indexOf runs natively: the scan costs far less than a byte-by-byte loop.
      at = bytes.indexOf(0xff, at);
      if (at === -1 || at + 1 >= n) return null;
      const next = bytes[at + 1] as number;
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) at += 2;
      else if (next === 0xff) at++;
      else break;
    }
  }
  return null;
}

/** Header and screen descriptor, colour tables, then extension and image blocks up to the 0x3B trailer. */
function gifLength(bytes: Uint8Array): number | null {
  const n = bytes.length;
  if (n < 13) return null;
  const screenFlags = bytes[10] as number;
  let at = 13 + (screenFlags & 0x80 ? 3 * 2 ** ((screenFlags & 0x07) + 1) : 0);
  const skipSubBlocks = (): boolean => {
    for (;;) {
      if (at >= n) return false;
      const size = bytes[at] as number;
      at += 1 + size;
      if (size === 0) return at <= n;
    }
  };
  while (at < n) {
    const block = bytes[at];
    if (block === 0x3b) return at + 1;
    if (block === 0x21) {
      at += 2; // introducer and label
      if (!skipSubBlocks()) return null;
    } else if (block === 0x2c) {
      if (at + 10 > n) return null;
      const flags = bytes[at + 9] as number;
      at += 10 + (flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0);
      at += 1; // LZW minimum code size
      if (!skipSubBlocks()) return null;
    } else {
      return null;
    }
  }
  return null;
}

/** RIFF: the size field counts everything after the first 8 bytes (padded to even). */
function webpLength(bytes: Uint8Array): number | null {
  if (bytes.length < 12) return null;
  const size = u32le(bytes, 4);
  const end = 8 + size + (size % 2);
  return end <= bytes.length ? end : null;
}

const tiffTypeBytes: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
};
/** Tags pointing to further directories: SubIFDs, EXIF, GPS, Interoperability. */
const tiffPointerTags = new Set([330, 34665, 34853, 40965]);
/** Offset tag → byte-count tag: strips, tiles, the old-style JPEG stream. */
const tiffDataTags = new Map([
  [273, 279],
  [324, 325],
  [513, 514],
]);

/** Classic TIFF: every directory (chained and pointed to), every out-of-line value, every strip and tile. */
function tiffLength(bytes: Uint8Array): number | null {
  const n = bytes.length;
  if (n < 8) return null;
  const little = bytes[0] === 0x49;
  if (((little ? u16le(bytes, 2) : u16be(bytes, 2)) as number) !== 42) return null;
  const u16 = (at: number) => (little ? u16le(bytes, at) : u16be(bytes, at));
  const u32 = (at: number) => (little ? u32le(bytes, at) : u32be(bytes, at));
  let end = 8;
  const reach = (offset: number, length: number): boolean => {
    if (offset + length > n) return false;
    end = Math.max(end, offset + length);
    return true;
  };
  const pending = [u32(4)];
  const seen = new Set<number>();
  while (pending.length > 0) {
    const ifd = pending.pop() as number;
    if (ifd === 0 || seen.has(ifd)) continue;
    if (seen.size >= 256 || ifd + 2 > n) return null;
    seen.add(ifd);
    const count = u16(ifd);
    if (!reach(ifd, 2 + count * 12 + 4)) return null;
    const values = new Map<number, number[]>();
    for (let i = 0; i < count; i++) {
      const entry = ifd + 2 + i * 12;
      const tag = u16(entry);
      const typeBytes = tiffTypeBytes[u16(entry + 2)] ?? 1;
      const items = u32(entry + 4);
      const size = items * typeBytes;
      const valueAt = size > 4 ? u32(entry + 8) : entry + 8;
      if (size > 4 && !reach(valueAt, size)) return null;
      if (
        (tiffPointerTags.has(tag) || tiffDataTags.has(tag) || [...tiffDataTags.values()].includes(tag)) &&
        (typeBytes === 2 || typeBytes === 4)
      ) {
        const list: number[] = [];
        for (let k = 0; k < Math.min(items, 1_000_000); k++)
          list.push(typeBytes === 2 ? u16(valueAt + k * 2) : u32(valueAt + k * 4));
        values.set(tag, list);
      }
    }
    for (const [offsetTag, countTag] of tiffDataTags) {
      const offsets = values.get(offsetTag) ?? [];
      const counts = values.get(countTag) ?? [];
      for (let k = 0; k < offsets.length; k++) if (!reach(offsets[k] as number, counts[k] ?? 0)) return null;
    }
    for (const tag of tiffPointerTags) pending.push(...(values.get(tag) ?? []));
    pending.push(u32(ifd + 2 + count * 12));
  }
  return end;
}

function u16le(bytes: Uint8Array, at: number): number {
  return (bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8);
}

/** Box types an AVIF (HEIF) file has at its top level. */
const topLevelBoxes = new Set([
  'ftyp',
  'meta',
  'mdat',
  'free',
  'skip',
  'moov',
  'uuid',
  'idat',
  'styp',
  'sidx',
  'moof',
  'mfra',
  'pdin',
  'prft',
  'emsg',
  'wide',
]);

/** Top-level boxes (size, type), from ftyp for as long as they are boxes of such a file. */
function isoBmffLength(bytes: Uint8Array): number | null {
  let at = 0;
  let sawMeta = false;
  while (at + 8 <= bytes.length) {
    let size = u32be(bytes, at);
    const type = fourcc(bytes, at + 4);
    if (!topLevelBoxes.has(type) || (at === 0 && type !== 'ftyp')) break;
    if (size === 1) {
      if (at + 16 > bytes.length) break;
      size = u32be(bytes, at + 8) * 2 ** 32 + u32be(bytes, at + 12);
    } else if (size === 0) {
      size = bytes.length - at;
    }
    if (size < 8 || at + size > bytes.length) break;
    if (type === 'meta') sawMeta = true;
    at += size;
  }
  return at > 0 && sawMeta ? at : null;
}

/**
 * `bytes` cut at the end of the image they start with, for serving inputs stored before uploads
 * were trimmed; unchanged where the end cannot be told (TIFF).
 */
export function imageOnly(bytes: Uint8Array, format: string): Uint8Array {
  const end = (['png', 'jpeg', 'gif', 'webp', 'avif', 'tiff'] as const).includes(format as ImageFormat)
    ? imageByteLength(bytes, format as ImageFormat)
    : null;
  return end === null ? bytes : bytes.subarray(0, end);
}
