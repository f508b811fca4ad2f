/**
 * Times model load and inference per backend and batch size, and prints a table.
 *
 *     node packages/inference/scripts/benchModel.ts [--models models] [--model nsfw]
 *         [--backends wasm,cpu] [--batches 1,4,8,16] [--seconds 3]
 *
 * Uses the live version of --model in the --models registry; when the registry has no such model
 * and it is `nsfw`, imports it into a temp folder first. tfjs keeps one engine per process, so
 * backends run one after the other, each with its own copy of the model.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { imageInputOf, ModelRegistry, type ResolvedModel } from '@inferq/models';
import { imageToInput } from '@inferq/images';
import { backendKinds, loadModel, startTfjsBackend, type BackendKind } from '../src/index.ts';
import { importNsfwModel } from './lib/importNsfwModel.ts';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const { values } = parseArgs({
  options: {
    models: { type: 'string', default: path.join(repoRoot, 'models') },
    model: { type: 'string', default: 'nsfw' },
    backends: { type: 'string', default: 'wasm,cpu' },
    batches: { type: 'string', default: '1,4,8,16' },
    seconds: { type: 'string', default: '3' },
  },
});

const backends = values.backends.split(',').map((b) => b.trim()) as BackendKind[];
for (const b of backends)
  if (!backendKinds.includes(b)) throw new Error(`unknown backend ${b}; use ${backendKinds.join(', ')}`);
const batchSizes = values.batches.split(',').map(Number);
const budgetMs = Number(values.seconds) * 1000;
const quiet = { info() {}, warn() {} };

let cleanup: string | null = null;
let resolved: ResolvedModel;
try {
  resolved = await new ModelRegistry({ root: values.models }).resolve(values.model);
} catch (error) {
  if (values.model !== 'nsfw') throw error;
  cleanup = await mkdtemp(path.join(tmpdir(), 'inferq-bench-'));
  await importNsfwModel({ outDir: cleanup });
  resolved = await new ModelRegistry({ root: cleanup }).resolve('nsfw');
}
const { manifest } = resolved;

// Preprocessing cost: a 1280×960 JPEG photo-like gradient decoded and fitted per the manifest.
const photo = await sharp(
  Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="960"><defs><linearGradient id="g"><stop offset="0" stop-color="#c96"/><stop offset="1" stop-color="#369"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/><circle cx="640" cy="480" r="300" fill="#eee"/></svg>`,
  ),
)
  .jpeg({ quality: 90 })
  .toBuffer();
const preprocessMs = await timeEach(() => imageToInput(photo, imageInputOf(manifest)), 30);
const input = await imageToInput(photo, imageInputOf(manifest));

interface Row {
  backend: string;
  batch: number;
  firstMs: number;
  msPerBatch: number;
  msPerImage: number;
  imagesPerSecond: number;
  runs: number;
}
const rows: Row[] = [];
const loads: Array<{ backend: string; detail: string; initMs: number; loadMs: number; warmMs: number }> = [];

for (const kind of backends) {
  const backend = await startTfjsBackend({ preferred: kind, logger: quiet });
  const model = await loadModel(resolved.location, manifest, { engines: { tfjs: backend, onnx: null } });
  const warm = performance.now();
  await model.warmUp([1]);
  const warmMs = performance.now() - warm;
  loads.push({
    backend: kind,
    detail: backend.wasm ? `simd=${backend.wasm.simd} threads=${backend.wasm.threads}` : '',
    initMs: backend.initMs,
    loadMs: model.loadMs,
    warmMs,
  });
  for (const batch of batchSizes) {
    const inputs = Array.from({ length: batch }, () => input);
    const first = performance.now();
    await model.predictBatch(inputs);
    const firstMs = performance.now() - first;
    const times: number[] = [];
    const started = performance.now();
    // At least one timed run; more while the budget lasts (the cpu backend needs seconds per batch).
    while (times.length === 0 || (performance.now() - started < budgetMs && times.length < 200)) {
      const t = performance.now();
      await model.predictBatch(inputs);
      times.push(performance.now() - t);
    }
    const msPerBatch = median(times);
    rows.push({
      backend: kind,
      batch,
      firstMs,
      msPerBatch,
      msPerImage: msPerBatch / batch,
      imagesPerSecond: (1000 * batch) / msPerBatch,
      runs: times.length,
    });
  }
  model.dispose();
}
if (cleanup) await rm(cleanup, { recursive: true, force: true });

console.log(
  `model ${manifest.name}@${manifest.version} (${imageInputOf(manifest).width}×${imageInputOf(manifest).height}×${imageInputOf(manifest).channels}), node ${process.version}, ${process.arch}`,
);
console.log(`preprocess (sharp, 1280×960 JPEG → input): ${preprocessMs.toFixed(1)} ms/image (median of 30)\n`);
printTable(
  ['backend', 'detail', 'backend init ms', 'model load ms', 'first predict ms'],
  loads.map((l) => [l.backend, l.detail, l.initMs.toFixed(0), l.loadMs.toFixed(0), l.warmMs.toFixed(0)]),
);
console.log('');
printTable(
  ['backend', 'batch', 'first run ms', 'ms/batch (median)', 'ms/image', 'images/s', 'runs'],
  rows.map((r) => [
    r.backend,
    String(r.batch),
    r.firstMs.toFixed(0),
    r.msPerBatch.toFixed(1),
    r.msPerImage.toFixed(1),
    r.imagesPerSecond.toFixed(1),
    String(r.runs),
  ]),
);

async function timeEach(fn: () => Promise<unknown>, n: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function printTable(header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i < 2 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`);
  for (const row of body) console.log(line(row));
}
