// The worker's JPEG decode against the cheaper decodes it could make instead, on real photos:
// libjpeg's DCT-domain scaling to 1/2 and 1/4 of each side (smaller IDCTs, fewer pixels to convert
// and resize; every Huffman symbol is still read), and its fast integer IDCT and chroma upsampling
// by replication. For each: CPU ms per photo of the decode, the exact aligned-corners resize and the
// scaling (all threads, one photo at a time, the decodes taking turns; the median over the rounds),
// and how far each class's score moves from the exact decode's, through the model. What a cheaper
// decode would save each job, beside what it would cost the promise of scores within 0.01 of
// nsfwjs (which the exact decode keeps).
//   pnpm bench decode [--photos fixtures|DIR] [--image 1024x768|native] [--model nsfw] [--rounds 30]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decodedRgbToInput, jpegFastPath, type JpegFastPathOptions } from '@inferq/images';
import { loadModel, startOnnxRuntime, startTfjsBackend } from '@inferq/inference';
import { imageInputOf, ModelRegistry } from '@inferq/models';
import { repoRoot } from '@inferq/testing';
import sharp from 'sharp';
import { benchPhotos } from './lib/benchImage.ts';
import { machineLoad } from './lib/procStat.ts';
import { median, printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    photos: { type: 'string', default: 'fixtures' },
    image: { type: 'string', default: '1024x768' },
    model: { type: 'string', default: 'nsfw' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
    rounds: { type: 'string', default: '30' },
  },
});
const rounds = Math.max(1, Number(values.rounds));

/** The worker's decode first: the others are measured against it. */
const variants: Array<{ name: string; options: Omit<JpegFastPathOptions, 'maxPixels'> }> = [
  { name: 'exact (the worker)', options: {} },
  { name: 'DCT-domain 1/2', options: { shrink: 2 } },
  { name: 'DCT-domain 1/4', options: { shrink: 4 } },
  { name: 'fast IDCT', options: { fast: { dct: true } } },
  { name: 'fast upsampling', options: { fast: { upsample: true } } },
  { name: 'fast IDCT and upsampling', options: { fast: { dct: true, upsample: true } } },
];

const quiet = { info: () => {}, warn: () => {} };
const { manifest, location } = await new ModelRegistry({ root: values['models-dir'] }).resolve(values.model);
const input = imageInputOf(manifest);
if (input.resizeKernel !== 'alignCorners' || input.channels !== 3)
  throw new Error(`${values.model} does not take aligned-corners RGB pixels, the input this decode makes`);
const model = await loadModel(location, manifest, {
  engines: {
    tfjs: await startTfjsBackend({ preferred: 'wasm', logger: quiet }),
    onnx: await startOnnxRuntime({ preferred: 'cpu', intraOpThreads: 1, logger: quiet }),
  },
  engine: 'onnxruntime',
});
await model.warmUp([1]);

// A photo the fast path does not take as it is (`--image native`: a PNG or WebP, a JPEG with an
// ICC profile) is re-encoded as an sRGB JPEG of its own size: only a plain JPEG has these decodes.
const photos = await Promise.all(
  (await benchPhotos(values.photos, values.image)).map(async ({ bytes }) =>
    (await jpegFastPath(bytes, { maxPixels: 100_000_000 }, () => true))
      ? bytes
      : sharp(bytes).toColourspace('srgb').jpeg({ quality: 90 }).toBuffer(),
  ),
);
console.log(
  `JPEG decode for ${values.model}: ${photos.length} ${values.photos} photos at ${values.image}, ${rounds} rounds; ${machineLoad().uptime}`,
);

/** The model's input from one decode, as the worker makes it, and the CPU ms it took (all threads). */
async function decodeToInput(bytes: Buffer, options: Omit<JpegFastPathOptions, 'maxPixels'>) {
  const cpu = process.cpuUsage();
  const decoded = await jpegFastPath(bytes, { maxPixels: 100_000_000, ...options }, (pixels) =>
    decodedRgbToInput(pixels, input),
  );
  const used = process.cpuUsage(cpu);
  if (!decoded) throw new Error('libjpeg-turbo is not on this machine, or a photo is not a plain JPEG');
  return { pixels: decoded.value, ms: (used.user + used.system) / 1000 };
}

interface DecodeRow {
  variant: string;
  msPerPhoto: number;
  savedMs: number;
  largestScoreMove: number;
  photosMovedOver001: number;
}
// Round by round, every decode of a photo in turn: the machine's drift falls on all of them alike.
const times = variants.map(() => photos.map((): number[] => []));
const scores: number[][][] = variants.map(() => []);
for (const [p, bytes] of photos.entries()) {
  for (let round = 0; round < rounds; round++) {
    for (const [v, variant] of variants.entries()) {
      const made = await decodeToInput(bytes, variant.options);
      times[v]![p]!.push(made.ms);
      if (round === rounds - 1) scores[v]![p] = (await model.predictBatch([made.pixels]))[0]!;
    }
  }
}
const msOf = (v: number) => times[v]!.reduce((sum, each) => sum + median(each), 0) / photos.length;
const exactMs = msOf(0);
const rows: DecodeRow[] = variants.map((variant, v) => {
  // Per photo, the largest move of any class's score from the exact decode's.
  const moves = scores[v]!.map((photo, p) =>
    Math.max(...photo.map((score, c) => Math.abs(score - scores[0]![p]![c]!))),
  );
  return {
    variant: variant.name,
    msPerPhoto: msOf(v),
    savedMs: exactMs - msOf(v),
    largestScoreMove: Math.max(...moves),
    photosMovedOver001: moves.filter((move) => move > 0.01).length,
  };
});

printTable(
  rows.map((row) => ({
    decode: row.variant,
    'decode + resize ms per photo': row.msPerPhoto.toFixed(2),
    'saved per job':
      rows[0] === row ? '' : `${row.savedMs.toFixed(2)} ms (${((100 * row.savedMs) / exactMs).toFixed(0)}%)`,
    'largest score move': rows[0] === row ? '' : row.largestScoreMove.toFixed(4),
    'photos moved > 0.01': rows[0] === row ? '' : `${row.photosMovedOver001} of ${photos.length}`,
  })),
);
model.dispose();
writeResults('decode', { model: values.model, photos: values.photos, image: values.image, rounds, rows });
