// CPU per upload of the API's image check (validateImage, packages/images), all threads counted
// (process.cpuUsage: the main thread, libuv's pool and libvips' workers) and the calling thread's
// alone (what the event loop spends), beside its two libvips calls alone: the header read
// (metadata) and the decode; then a JPEG's check (libjpeg-turbo at 1/8) on the calling thread
// against a trip through libuv's pool (validateImage's way), by size. `--parallel` checks run at
// once, as concurrent submits would. No HTTP, no database.
//   pnpm bench validate [--images 3000] [--parallel 8]
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeCostPerPixel, jpegFastPath, validateImage, type PixelSpec } from '@inferq/images';
import { photoLikeImage } from '@inferq/images/testing';
import { printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: { images: { type: 'string', default: '3000' }, parallel: { type: 'string', default: '8' } },
});
const parallel = Number(values.parallel);
const rows: Array<Record<string, string>> = [];

async function measure(image: string, step: string, count: number, run: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.max(10, count / 10); i++) await run();
  const before = process.cpuUsage();
  const beforeCaller = process.threadCpuUsage();
  const started = performance.now();
  let left = count;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (left-- > 0) await run();
    }),
  );
  const cpu = process.cpuUsage(before);
  const caller = process.threadCpuUsage(beforeCaller);
  const wallMs = performance.now() - started;
  rows.push({
    image,
    step,
    'CPU ms/image': ((cpu.user + cpu.system) / 1000 / count).toFixed(3),
    'of it system': (cpu.system / 1000 / count).toFixed(3),
    'calling thread': ((caller.user + caller.system) / 1000 / count).toFixed(3),
    'images/s': (count / (wallMs / 1000)).toFixed(0),
  });
}

const tiny: PixelSpec = { width: 32, height: 32, channels: 1, resize: 'fill', resizeKernel: 'nearest' };
const untrusted = { failOn: 'error' as const, sequentialRead: true, pages: 1, page: 0 };
for (const [width, height] of [
  [32, 32],
  [1024, 768],
] as const) {
  const bytes = await photoLikeImage(width, height, 'jpeg');
  const name = `JPEG ${width}×${height} (${bytes.length} B)`;
  const count = width === 32 ? Number(values.images) : Math.max(50, Math.round(Number(values.images) / 30));
  await measure(name, 'validateImage', count, () => validateImage(bytes));
  if (width === 32)
    await measure(name, 'validateImage + 32×32 grey pixels', count, () => validateImage(bytes, {}, { pixels: tiny }));
  await measure(name, 'sharp metadata() alone', count, () => sharp(bytes, untrusted).metadata());
  await measure(name, 'sharp decode to raw alone', count, () => sharp(bytes, untrusted).raw().toBuffer());
}
// A JPEG's check on the calling thread or through the pool, by size: with checks in parallel the
// pool's wake-ups are shared, and its cost to the calling thread stays below the decode's.
for (const side of [32, 64, 128, 256]) {
  const bytes = await photoLikeImage(side, side, 'jpeg');
  const name = `JPEG ${side}×${side} (${bytes.length} B)`;
  const count = Math.round(Number(values.images) / (side / 32));
  for (const blocking of [true, false])
    await measure(name, `JPEG check at 1/8, ${blocking ? 'on the calling thread' : 'through the pool'}`, count, () =>
      jpegFastPath(bytes, { maxPixels: 1e8, shrink: 8, checkOnly: true, blocking }, () => true),
    );
}
// CPU per pixel of a full decode by format, against JPEG's: the weights of decodeCostPerPixel
// (packages/images), by which the decode queue counts an image's cost. The same photo-like
// 1024×768 picture in each format (WebP lossy and lossless, AVIF at sharp's defaults).
const photo = await photoLikeImage(1024, 768, 'png');
const encodings: Array<[string, () => Promise<Buffer>]> = [
  ['jpeg', () => sharp(photo).jpeg({ quality: 90 }).toBuffer()],
  ['png', () => sharp(photo).png().toBuffer()],
  ['webp', () => sharp(photo).webp({ quality: 80 }).toBuffer()],
  ['webp lossless', () => sharp(photo).webp({ lossless: true }).toBuffer()],
  ['gif', () => sharp(photo).gif().toBuffer()],
  ['tiff', () => sharp(photo).tiff().toBuffer()],
  ['avif', () => sharp(photo).avif({ effort: 2 }).toBuffer()],
];
const formatRows: Array<Record<string, string>> = [];
let jpegMs = 0;
for (const [format, encode] of encodings) {
  const bytes = await encode();
  const count = 40;
  for (let i = 0; i < 3; i++) await sharp(bytes, untrusted).raw().toBuffer();
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) await sharp(bytes, untrusted).raw().toBuffer();
  const cpu = process.cpuUsage(before);
  const ms = (cpu.user + cpu.system) / 1000 / count;
  if (format === 'jpeg') jpegMs = ms;
  formatRows.push({
    format,
    bytes: String(bytes.length),
    'decode CPU ms (1024×768)': ms.toFixed(2),
    '× JPEG': (ms / jpegMs).toFixed(1),
    decodeCostPerPixel: String(decodeCostPerPixel[format.split(' ')[0] as keyof typeof decodeCostPerPixel]),
  });
}
console.log(
  `image check CPU: ${parallel} at once, sharp concurrency ${sharp.concurrency()}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`,
);
printTable(rows);
console.log('\nfull decode by format, one at a time');
printTable(formatRows);
console.log(`wrote ${writeResults('validate-cpu', { parallel, rows, formatRows })}`);
