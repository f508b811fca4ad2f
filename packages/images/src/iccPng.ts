import { crc32, deflateSync } from 'node:zlib';

/**
 * RGB pixels as a PNG that carries an ICC profile (its iCCP chunk): the form in which libvips
 * converts a few pixels of a JPEG in that profile to sRGB exactly as it converts the whole JPEG,
 * since the conversion takes each pixel alone. The image data is stored, not compressed: the PNG
 * lives only between this process and libvips.
 */
export function pngWithIccProfile(rgb: Uint8Array, width: number, height: number, icc: Uint8Array): Buffer {
  if (rgb.length !== width * height * 3)
    throw new Error(`expected ${width * height * 3} bytes of RGB, got ${rgb.length}`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per sample
  header[9] = 2; // RGB; compression, filter and interlace methods 0
  const rowBytes = width * 3;
  const scanlines = Buffer.alloc((rowBytes + 1) * height); // each row: filter type 0, then its bytes
  for (let y = 0; y < height; y++)
    scanlines.set(rgb.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    // A profile name, its terminator, compression method 0, then the profile deflated.
    chunk('iCCP', Buffer.concat([Buffer.from('icc\0\0', 'latin1'), deflateSync(icc)])),
    chunk('IDAT', deflateSync(scanlines, { level: 0 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
