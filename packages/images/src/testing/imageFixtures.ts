/**
 * Image fixtures built in memory, for this package's tests and for any test that uploads images
 * (`import { validJpeg } from '@inferq/images/testing'`). Every function returns the file's bytes
 * and is deterministic: the same arguments give the same bytes on every run. Fixtures that sharp
 * encodes return `Promise<Buffer>`, byte-built ones a `Buffer`; `await` works on either.
 *
 * Good images are encoded by sharp; broken and hostile ones are made by byte surgery on good ones
 * or written from scratch (PNG chunks with recomputed CRCs, JPEG segments, ZIP records), so each
 * fixture is broken in exactly one documented way.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import type { ModelInput } from '@inferq/models';

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Pixels

/** mulberry32: a small seeded generator, so noise is the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** RGB pixels: two crossing gradients, a soft blob and per-pixel noise, like a photo to a codec. */
function photoLikePixels(width: number, height: number, seed = 1): Buffer {
  const random = seededRandom(seed);
  const pixels = Buffer.allocUnsafe(width * height * 3);
  const cx = width * 0.6;
  const cy = height * 0.4;
  const radius = Math.max(1, Math.min(width, height) * 0.35);
  let offset = 0;
  for (let y = 0; y < height; y++) {
    const fy = height > 1 ? y / (height - 1) : 0;
    for (let x = 0; x < width; x++) {
      const fx = width > 1 ? x / (width - 1) : 0;
      const dx = x - cx;
      const dy = y - cy;
      const blob = Math.max(0, 1 - Math.sqrt(dx * dx + dy * dy) / radius);
      const noise = (random() - 0.5) * 48;
      pixels[offset++] = clampByte(40 + 160 * fx + 50 * blob + noise);
      pixels[offset++] = clampByte(30 + 120 * fy + 90 * blob + noise);
      pixels[offset++] = clampByte(200 - 140 * fx * fy + 20 * blob + noise);
    }
  }
  return pixels;
}

function clampByte(value: number): number {
  return value < 0 ? 0 : value > 255 ? 255 : Math.round(value);
}

function photoLike(width: number, height: number, seed = 1): Sharp {
  return sharp(photoLikePixels(width, height, seed), { raw: { width, height, channels: 3 } });
}

// ---------------------------------------------------------------------------------------------
// Good images

/** A baseline JPEG of photo-like content. */
export function validJpeg(width = 64, height = 48): Promise<Buffer> {
  return photoLike(width, height).jpeg({ quality: 85 }).toBuffer();
}

/** An 8-bit RGB PNG of photo-like content. */
export function validPng(width = 64, height = 48): Promise<Buffer> {
  return photoLike(width, height).png().toBuffer();
}

/** An RGBA PNG whose alpha falls from opaque on the left to clear on the right. */
export function transparentPng(width = 64, height = 48): Promise<Buffer> {
  const rgb = photoLikePixels(width, height);
  const rgba = Buffer.allocUnsafe(width * height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    const x = (i / 3) % width;
    rgba[j] = rgb[i] ?? 0;
    rgba[j + 1] = rgb[i + 1] ?? 0;
    rgba[j + 2] = rgb[i + 2] ?? 0;
    rgba[j + 3] = clampByte(255 * (1 - x / Math.max(1, width - 1)));
  }
  return sharp(rgba, { raw: { width, height, channels: 4 } })
    .png()
    .toBuffer();
}

/** A lossy WebP. */
export function validWebp(width = 64, height = 48): Promise<Buffer> {
  return photoLike(width, height).webp({ quality: 80 }).toBuffer();
}

/** A single-frame GIF (palette, so sharp reports it with an alpha channel). */
export function validGif(width = 64, height = 48): Promise<Buffer> {
  return photoLike(width, height).gif().toBuffer();
}

/**
 * An animated GIF of `frames` frames, each `width`×`height`, every frame a different shade. A
 * validator should look at the first frame only, whatever the count.
 */
export function animatedGif(frames = 500, width = 64, height = 48): Promise<Buffer> {
  const frameBytes = width * height * 3;
  const pixels = Buffer.allocUnsafe(frameBytes * frames);
  for (let frame = 0; frame < frames; frame++) {
    const shade = (frame * 37) % 256;
    const start = frame * frameBytes;
    for (let i = 0; i < frameBytes; i += 3) {
      pixels[start + i] = shade;
      pixels[start + i + 1] = 255 - shade;
      pixels[start + i + 2] = (i / 3) % width < width / 2 ? 32 : 224;
    }
  }
  return sharp(pixels, { raw: { width, height: height * frames, channels: 3, pageHeight: height } })
    .gif({ delay: Array.from({ length: frames }, () => 40), loop: 0 })
    .toBuffer();
}

/** An AVIF (AV1 in HEIF), which sharp's prebuilt libvips decodes. */
export function validAvif(width = 64, height = 48): Promise<Buffer> {
  return photoLike(width, height).avif({ quality: 60, effort: 0 }).toBuffer();
}

/** A deflate-compressed TIFF. */
export function validTiff(width = 64, height = 48): Promise<Buffer> {
  return photoLike(width, height).tiff({ compression: 'deflate' }).toBuffer();
}

/** A JPEG whose EXIF orientation (6: rotate 90° clockwise) makes it display `height`×`width`. */
export function rotatedJpeg(width = 64, height = 48): Promise<Buffer> {
  return photoLike(width, height).jpeg().withMetadata({ orientation: 6 }).toBuffer();
}

/** A drawing: flat colours and a few solid shapes (rendered from SVG here, delivered as PNG). */
export function drawingImage(width = 640, height = 480): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 640 480">
  <rect width="640" height="480" fill="#f4efe1"/>
  <rect x="60" y="60" width="220" height="160" fill="#d2452f"/>
  <circle cx="450" cy="170" r="110" fill="#2f6fd2"/>
  <polygon points="120,420 260,260 400,420" fill="#3fa34d"/>
  <rect x="430" y="330" width="160" height="90" rx="20" fill="#1b1b1b"/>
</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A photo-like image: gradients, a soft highlight and noise, encoded as `format`. */
export function photoLikeImage(width = 640, height = 480, format: 'jpeg' | 'png' | 'webp' = 'jpeg'): Promise<Buffer> {
  const image = photoLike(width, height, 7);
  if (format === 'png') return image.png().toBuffer();
  if (format === 'webp') return image.webp({ quality: 80 }).toBuffer();
  return image.jpeg({ quality: 85 }).toBuffer();
}

/** A 1×1 PNG: a real image, under any sensible minimum size. */
export function tinyImage(): Promise<Buffer> {
  return sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
}

// ---------------------------------------------------------------------------------------------
// Broken images

/** A zero-byte file. */
export function emptyFile(): Buffer {
  return Buffer.alloc(0);
}

/** A baseline JPEG cut off at `keepFraction` of its length: no EOI, scan data missing. */
export async function truncatedJpeg(width = 256, height = 192, keepFraction = 0.5): Promise<Buffer> {
  const jpeg = await validJpeg(width, height);
  return Buffer.from(jpeg.subarray(0, Math.floor(jpeg.length * keepFraction)));
}

/**
 * A PNG with damaged compressed pixel data: 64 bytes in the middle of its first IDAT chunk are
 * inverted. With `fixCrc` (the default) the chunk's CRC is recomputed, so the chunk looks intact
 * and only decoding the deflate stream finds the damage; without it the CRC check catches it.
 */
export async function pngWithCorruptChunk(options: { fixCrc?: boolean } = {}): Promise<Buffer> {
  const png = Buffer.from(await validPng(256, 192));
  const idat = findPngChunk(png, 'IDAT');
  if (idat === undefined) throw new Error('encoded PNG has no IDAT chunk');
  const damageStart = idat.dataStart + Math.floor(idat.length / 2) - 32;
  for (let i = damageStart; i < damageStart + 64; i++) png[i] = (png[i] ?? 0) ^ 0xff;
  if (options.fixCrc ?? true) {
    png.writeUInt32BE(
      crc32(png.subarray(idat.dataStart - 4, idat.dataStart + idat.length)),
      idat.dataStart + idat.length,
    );
  }
  return png;
}

// ---------------------------------------------------------------------------------------------
// Bombs

/**
 * A PNG whose IHDR claims `width`×`height` (10 gigapixels by default) followed by a tiny IDAT
 * holding a few rows. Only a header check can refuse it cheaply: a decoder would try to allocate
 * the whole canvas first. CRCs are correct, so the file is well-formed up to its missing rows.
 */
export function pixelBomb(width = 100_000, height = 100_000): Buffer {
  const rows = Buffer.alloc(4 * (1 + width)); // four rows of filter byte 0 and black pixels
  return buildPng({ width, height, bitDepth: 8, colourType: 0 }, deflateSync(rows, { level: 9 }));
}

/**
 * A real, complete, decodable `side`×`side` single-colour PNG (1-bit grey), a few tens of KiB on
 * disk, 400 megapixels once decoded at the default side.
 */
export function decompressionBomb(side = 20_000): Buffer {
  const rowBytes = 1 + Math.ceil(side / 8);
  const raw = Buffer.alloc(rowBytes * side); // all zero: filter 0, black pixels
  return buildPng({ width: side, height: side, bitDepth: 1, colourType: 0 }, deflateSync(raw, { level: 9 }));
}

/**
 * A valid JPEG carrying about `metadataBytes` of metadata: a maximal EXIF block (one APP1 segment
 * holds at most 64 KiB) and an oversized ICC profile split over APP2 `ICC_PROFILE` segments, which
 * decoders reassemble. The pixels are an ordinary 64×48 image.
 */
export async function hugeExifJpeg(metadataBytes = 2 * MiB): Promise<Buffer> {
  const jpeg = await photoLike(64, 48)
    .jpeg()
    .withExif({ IFD0: { ImageDescription: 'x'.repeat(60_000), Software: 'fixture' } })
    .toBuffer();
  const iccBytes = Math.max(128, metadataBytes - 60_000);
  return insertJpegSegments(jpeg, iccProfileSegments(fakeIccProfile(iccBytes)));
}

/**
 * A 64×64 JPEG carrying about `metadataBytes` in many APP1 segments of 60,000 bytes each (XMP
 * packets, as a file with extended XMP has): a decoder reports one XMP blob of them, the framing
 * holds them all.
 */
export async function manyApp1Jpeg(metadataBytes = 2.6 * MiB): Promise<Buffer> {
  const jpeg = await photoLike(64, 64).jpeg().toBuffer();
  const payload = 60_000;
  const segments: Buffer[] = [];
  for (let total = 0; total < metadataBytes; total += payload + 4) {
    const header = Buffer.alloc(4);
    header.writeUInt16BE(0xffe1, 0);
    header.writeUInt16BE(2 + payload, 2);
    const body = Buffer.alloc(payload, 0x20);
    body.write('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>', 0, 'latin1');
    segments.push(header, body);
  }
  return insertJpegSegments(jpeg, segments);
}

/** Names, places and free text that private metadata of {@link privateMetadataImage} carries. */
export const privateMetadataMarkers = ['Jane Roe', 'Roe Photography', 'Secret comment'] as const;

/**
 * A 64×48 photo-like image in `format` whose metadata says who took it and where: EXIF with
 * Artist, Copyright and GPS (51° 30′ N, 0° 7′ W), an XMP creator, the EXIF orientation 6 (rotate
 * 90°: it displays 48×64), and for PNG a tEXt comment, for GIF (which sharp writes no metadata
 * into) a comment extension and an XMP application extension.
 */
export async function privateMetadataImage(format: 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif'): Promise<Buffer> {
  const exif = {
    IFD0: { Artist: 'Jane Roe', Copyright: 'Jane Roe Photography' },
    IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
  };
  const xmp =
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Jane Roe</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>';
  if (format === 'gif') {
    const gif = await photoLike(64, 48).gif().toBuffer();
    const screenFlags = gif[10] as number;
    const headerEnd = 13 + (screenFlags & 0x80 ? 3 * 2 ** ((screenFlags & 0x07) + 1) : 0);
    const subBlocks = (data: Buffer) => Buffer.concat([Buffer.from([data.length]), data, Buffer.from([0])]);
    const comment = Buffer.concat([
      Buffer.from([0x21, 0xfe]),
      subBlocks(Buffer.from('Secret comment by Jane Roe', 'latin1')),
    ]);
    const xmpExtension = Buffer.concat([
      Buffer.from([0x21, 0xff, 11]),
      Buffer.from('XMP DataXMP', 'latin1'),
      subBlocks(Buffer.from(xmp.slice(0, 200), 'latin1')),
    ]);
    return Buffer.concat([gif.subarray(0, headerEnd), comment, xmpExtension, gif.subarray(headerEnd)]);
  }
  const image = photoLike(64, 48);
  const encoded = await image[format]().withExif(exif).withXmp(xmp).withMetadata({ orientation: 6 }).toBuffer();
  if (format !== 'png') return encoded;
  // A tEXt chunk before IDAT, right after IHDR (8-byte signature + 25-byte IHDR chunk).
  return Buffer.concat([
    encoded.subarray(0, 33),
    pngChunk('tEXt', Buffer.from('Comment\0Secret comment', 'latin1')),
    encoded.subarray(33),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Files that are not (accepted) images

/** An SVG drawing, with an XML prolog and a comment before the root as real exports have. */
export function svgFile(options: { prolog?: boolean } = {}): Buffer {
  const prolog = (options.prolog ?? true) ? '<?xml version="1.0" encoding="UTF-8"?>\n<!-- exported drawing -->\n' : '';
  return Buffer.from(
    `${prolog}<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="red"/><script>alert(1)</script></svg>\n`,
  );
}

/** Plain text, as if someone renamed `notes.txt` to `photo.jpg`. */
export function textFile(): Buffer {
  return Buffer.from('These are meeting notes, not a photo.\nItem 1: ship the validator.\n');
}

/** A minimal one-page PDF. */
export function pdfFile(): Buffer {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>',
  ];
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    offsets.push(body.length);
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/**
 * The opening of a HEIC file: an ISO-BMFF `ftyp` box branded `heic`, then an empty `meta` box.
 * Only the header is real (nothing here encodes HEVC), which is all a format check looks at.
 */
export function heicFile(): Buffer {
  const ftyp = isoBox('ftyp', Buffer.concat([Buffer.from('heic'), u32(0), Buffer.from('mif1heic')]));
  return Buffer.concat([ftyp, isoBox('meta', Buffer.alloc(4))]);
}

/** A real 24-bit 8×8 BMP: a raster format the platform does not take. */
export function bmpFile(width = 8, height = 8): Buffer {
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const pixelBytes = rowBytes * height;
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + pixelBytes, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(width, 18);
  header.writeInt32LE(height, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(24, 28);
  header.writeUInt32LE(pixelBytes, 34);
  return Buffer.concat([header, Buffer.alloc(pixelBytes, 0x7f)]);
}

/**
 * A polyglot: a valid JPEG with a ZIP archive appended. Decoders stop at the JPEG's EOI, so it
 * decodes as an ordinary image; it is accepted, and the platform never serves upload bytes back
 * as anything but their sniffed image type.
 */
export async function polyglotJpegZip(): Promise<Buffer> {
  return Buffer.concat([await validJpeg(64, 48), zipFile('payload.html', '<script>alert(1)</script>')]);
}

/** A polyglot: a GIF signature followed by HTML and script instead of image data. */
export function polyglotGifHtml(): Buffer {
  return Buffer.from('GIF89a/*<html><body><script>alert(document.domain)</script></body></html>*/=1;\n', 'latin1');
}

// ---------------------------------------------------------------------------------------------
// Byte surgery helpers

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value >>> 0);
  return buffer;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  return Buffer.concat([u32(data.length), typeAndData, u32(crc32(typeAndData))]);
}

function buildPng(
  header: { width: number; height: number; bitDepth: number; colourType: number },
  idat: Buffer,
): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(header.width, 0);
  ihdr.writeUInt32BE(header.height, 4);
  ihdr[8] = header.bitDepth;
  ihdr[9] = header.colourType;
  // compression 0, filter 0, interlace 0 (Buffer.alloc left them zero)
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

function findPngChunk(png: Buffer, type: string): { dataStart: number; length: number } | undefined {
  let offset = 8;
  while (offset + 8 <= png.length) {
    const length = png.readUInt32BE(offset);
    if (png.toString('latin1', offset + 4, offset + 8) === type) return { dataStart: offset + 8, length };
    offset += 12 + length;
  }
  return undefined;
}

/** An ICC-shaped blob: a header with the right size and `acsp` signature, no tags. */
function fakeIccProfile(size: number): Buffer {
  const profile = Buffer.alloc(size);
  profile.writeUInt32BE(size, 0);
  profile.write('mntrRGB XYZ ', 12, 'latin1');
  profile.write('acsp', 36, 'latin1');
  return profile;
}

/** Splits an ICC profile into APP2 segments as the ICC spec lays them out in JPEG. */
function iccProfileSegments(profile: Buffer): Buffer[] {
  const maxChunk = 65_519; // 65535 - 2 (length) - 12 ("ICC_PROFILE\0") - 2 (sequence, count)
  const count = Math.ceil(profile.length / maxChunk);
  if (count > 255) throw new Error('ICC profile too large for JPEG APP2 segments');
  const segments: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const chunk = profile.subarray(index * maxChunk, (index + 1) * maxChunk);
    const header = Buffer.alloc(4 + 14);
    header[0] = 0xff;
    header[1] = 0xe2;
    header.writeUInt16BE(2 + 14 + chunk.length, 2);
    header.write('ICC_PROFILE\0', 4, 'latin1');
    header[16] = index + 1;
    header[17] = count;
    segments.push(Buffer.concat([header, chunk]));
  }
  return segments;
}

/** Inserts marker segments right after SOI and any APPn segments already there. */
function insertJpegSegments(jpeg: Buffer, segments: Buffer[]): Buffer {
  let offset = 2;
  while (offset + 4 <= jpeg.length && jpeg[offset] === 0xff) {
    const marker = jpeg[offset + 1] ?? 0;
    if (marker < 0xe0 || marker > 0xef) break;
    offset += 2 + jpeg.readUInt16BE(offset + 2);
  }
  return Buffer.concat([jpeg.subarray(0, offset), ...segments, jpeg.subarray(offset)]);
}

function isoBox(type: string, payload: Buffer): Buffer {
  return Buffer.concat([u32(8 + payload.length), Buffer.from(type, 'latin1'), payload]);
}

/** A one-entry stored (uncompressed) ZIP archive. */
function zipFile(name: string, content: string): Buffer {
  const data = Buffer.from(content);
  const fileName = Buffer.from(name);
  const checksum = crc32(data);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(checksum, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(fileName.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(10, 6);
  central.writeUInt32LE(checksum, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(fileName.length, 28);
  const centralOffset = local.length + fileName.length + data.length;
  const centralSize = central.length + fileName.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([local, fileName, data, central, fileName, end]);
}

// ---------------------------------------------------------------------------------------------
// Model inputs

/** An aligned-corners RGB input as nsfw's: 224×224, /255. */
export const alignedRgbInput: ModelInput = {
  width: 224,
  height: 224,
  channels: 3,
  resize: 'fill',
  resizeKernel: 'alignCorners',
  scale: { mode: 'divide', divisor: 255 },
  channelOrder: 'rgb',
  layout: 'nhwc',
};

/** Another aligned-corners input: BGR, mean and std per channel, not square. */
export const alignedBgrInput: ModelInput = {
  width: 40,
  height: 30,
  channels: 3,
  resize: 'fill',
  resizeKernel: 'alignCorners',
  scale: { mode: 'meanStd', mean: [0.4, 0.45, 0.5], std: [0.2, 0.25, 0.3] },
  channelOrder: 'bgr',
  layout: 'nhwc',
};
