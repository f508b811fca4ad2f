/**
 * How long validateImage takes per image, sequentially, on this machine.
 *
 *   node packages/images/scripts/benchValidate.ts [--runs 25] [--concurrency 1]
 *
 * `--concurrency` sets libvips threads per image through configureSharp (default 1, as the API and
 * worker run it; 0 means sharp's own default). Images are validated one after another, so the
 * numbers are latency, not throughput. Prints one row per image with the median and 90th percentile.
 */
import { parseArgs } from 'node:util';
import { configureSharp } from '../src/configureSharp.ts';
import { validateImage } from '../src/imageValidator.ts';
import { animatedGif, decompressionBomb, photoLikeImage, validWebp } from '../src/testing/imageFixtures.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '25' }, concurrency: { type: 'string', default: '1' } },
});
const runs = Number(values.runs);
const settings = configureSharp({ concurrency: Number(values.concurrency), cache: false });

const images: { name: string; bytes: Buffer }[] = [
  { name: 'JPEG 1024×768', bytes: await photoLikeImage(1024, 768, 'jpeg') },
  { name: 'JPEG 4000×3000', bytes: await photoLikeImage(4000, 3000, 'jpeg') },
  { name: 'PNG 1024×768', bytes: await photoLikeImage(1024, 768, 'png') },
  { name: 'WebP 1024×768', bytes: await validWebp(1024, 768) },
  { name: 'GIF 64×48, 1000 frames', bytes: await animatedGif(1000, 64, 48) },
  { name: 'PNG 20000×20000 (refused)', bytes: decompressionBomb() },
];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

const rows: Record<string, string | number>[] = [];
for (const { name, bytes } of images) {
  const times: number[] = [];
  let outcome = 'accepted';
  for (let run = 0; run < runs + 3; run++) {
    const started = performance.now();
    try {
      await validateImage(bytes);
    } catch (error) {
      outcome = (error as { code?: string }).code ?? 'error';
    }
    if (run >= 3) times.push(performance.now() - started); // the first runs warm code and caches
  }
  times.sort((a, b) => a - b);
  rows.push({
    image: name,
    KiB: Math.round(bytes.length / 1024),
    outcome,
    'median ms': Number(percentile(times, 0.5).toFixed(1)),
    'p90 ms': Number(percentile(times, 0.9).toFixed(1)),
    runs,
  });
}

console.log(`node ${process.version}, libvips threads per image: ${settings.concurrency}, runs per image: ${runs}`);
console.table(rows);
