// What storing only the image costs per upload: cutting it at its own end marker
// (imageByteLength: a walk over the framing, no decode) against re-encoding it with sharp
// (decode + encode, the other way to drop appended bytes), for photo-like JPEG, PNG and WebP
// uploads with a payload appended. Also the validation a submit pays anyway, for scale.
import sharp from 'sharp';
import { imageByteLength, validateImage } from '@inferq/images';
import { photoLikeImage } from '@inferq/images/testing';
import { median, printTable, writeResults } from './lib/stats.ts';

const quick = process.argv.includes('--quick');
const rounds = quick ? 5 : 30;
const payload = Buffer.alloc(64 * 1024, 0x50);

async function time(run: () => unknown, times = rounds): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

const rows: Array<Record<string, string | number>> = [];
for (const [format, size] of [
  ['jpeg', [1024, 768]],
  ['png', [1024, 768]],
  ['webp', [1024, 768]],
  ['jpeg', [3000, 2000]],
] as const) {
  const image = await photoLikeImage(size[0], size[1], format);
  const upload = Buffer.concat([image, payload]);
  const trimMs = await time(() => imageByteLength(upload, format), rounds * 20);
  const reencode = () => {
    const pipeline = sharp(upload, { failOn: 'error' });
    return (
      format === 'jpeg'
        ? pipeline.jpeg({ quality: 90 })
        : format === 'png'
          ? pipeline.png()
          : pipeline.webp({ quality: 90 })
    ).toBuffer();
  };
  const reencodeMs = await time(reencode);
  const reencoded = await reencode();
  const validateMs = await time(() =>
    validateImage(upload, { maxPixels: 40_000_000, maxWidth: 8192, maxHeight: 8192 }),
  );
  rows.push({
    image: `${format} ${size[0]}×${size[1]}`,
    'upload KiB': Math.round(upload.length / 1024),
    'trim µs': Number((trimMs * 1000).toFixed(1)),
    'trimmed KiB': Math.round((imageByteLength(upload, format) ?? 0) / 1024),
    're-encode ms': Number(reencodeMs.toFixed(1)),
    're-encoded KiB': Math.round(reencoded.length / 1024),
    'validate ms': Number(validateMs.toFixed(1)),
    're-encode / trim': trimMs > 0 ? Math.round(reencodeMs / trimMs) : 'n/a',
  });
}
printTable(rows);
console.log(`\nmedians of ${rounds} runs (trim: ${rounds * 20}); 'validate' is what every submit already pays.`);
console.log(`results: ${writeResults('imageStore', rows)}`);
