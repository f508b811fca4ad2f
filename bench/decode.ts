// The worker's JPEG decode against the cheaper decodes it could make instead, on real photos:
// libjpeg's DCT-domain scaling to 1/2 and 1/4 of each side (smaller IDCTs, fewer pixels to convert
// and resize; every Huffman symbol is still read), and its fast integer IDCT and chroma upsampling
// by replication. For each: CPU ms per photo of the decode, the exact aligned-corners resize and the
// scaling (all threads, one photo at a time, the decodes taking turns; the median over the rounds),
// and how far each class's score moves from the exact decode's, through the model. What a cheaper
// decode would save each job, beside what it would cost the promise of scores within 0.01 of
// nsfwjs (which the exact decode keeps).
//   pnpm bench decode [--photos fixtures|DIR] [--image 1024x768|native] [--model nsfw] [--rounds 30]
import { parseArgs } from 'node:util';
import { decodedRgbToInput, jpegFastPath, type JpegFastPathOptions } from '@inferq/images';
import { loadPhotoModel, photoModelOptions, plainJpegPhotos } from './lib/photoModel.ts';
import { machineLoad } from './lib/procStat.ts';
import { median, printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({ options: photoModelOptions });
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

const { input, model } = await loadPhotoModel(values.model, values['models-dir']);
const photos = (await plainJpegPhotos(values.photos, values.image)).map(({ bytes }) => bytes);
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
