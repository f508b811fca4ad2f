// Dynamic batching: throughput and per-image latency (p50/p99) at batch sizes 1-32 on each
// backend that starts here, for the served models. Each point drives the worker's Batcher with
// 2 × batch-size clients in a closed loop (the worker's default concurrency), so batches fill the
// way they do under a full queue; latency runs from submit to result and includes the wait for
// the batch ahead. Model only: no HTTP, queue or database.
//   pnpm bench batching [--backends wasm,cpu] [--models nsfw,mnist] [--batches 1,4,8,16,32] [--seconds 2] [--max-batch-seconds 10]
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  backendKinds,
  loadModel,
  startTfjsBackend,
  measureBatching,
  type BackendInfo,
  type BackendKind,
} from '@inferq/inference';
import { ModelRegistry } from '@inferq/models';
import { repoRoot } from '@inferq/testing';
import { machineLoad } from './lib/procStat.ts';
import { printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'tensorflow-gpu,tensorflow,wasm,cpu' },
    models: { type: 'string', default: 'nsfw,mnist' },
    batches: { type: 'string', default: '1,4,8,16,32' },
    seconds: { type: 'string', default: '2' },
    // A point whose one batch would take longer than this is skipped (the cpu backend on nsfw).
    'max-batch-seconds': { type: 'string', default: '10' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
  },
});
const seconds = Number(values.seconds);
const maxBatchMs = Number(values['max-batch-seconds']) * 1000;
const batchSizes = values.batches.split(',').map(Number);
const registry = new ModelRegistry({ root: values['models-dir'] });
const quiet = { info() {}, warn() {} };
const before = machineLoad();
console.log(`dynamic batching: ${seconds} s per point, 2 × batch clients in a closed loop; ${before.uptime}`);

interface Row {
  backend: BackendKind;
  model: string;
  batch: number;
  imagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  meanBatch: number;
  skipped?: string;
}
const rows: Row[] = [];
const unavailable: Record<string, string> = {};

for (const backend of values.backends.split(',').map((b) => b.trim()) as BackendKind[]) {
  if (!backendKinds.includes(backend)) throw new Error(`unknown backend ${backend}`);
  let tfjs: BackendInfo;
  try {
    tfjs = await startTfjsBackend({ preferred: backend, logger: quiet });
  } catch (error) {
    unavailable[backend] = (error as Error).message.slice(0, 160);
    console.log(`${backend}: not available here (${unavailable[backend]})`);
    continue;
  }
  for (const name of values.models.split(',')) {
    const { manifest, location } = await registry.resolve(name);
    const model = await loadModel(location, manifest, { engines: { tfjs, onnx: null } });
    const input = new Float32Array(model.inputSize).fill(0.5);
    let perImageMs = 0;
    for (const batch of batchSizes) {
      await model.warmUp([batch]); // first call at a shape compiles and allocates
      const probeStarted = performance.now();
      if (perImageMs === 0) {
        await model.predictBatch([input]);
        perImageMs = performance.now() - probeStarted;
      }
      if (perImageMs * batch > maxBatchMs) {
        rows.push({
          backend,
          model: name,
          batch,
          imagesPerSecond: Number.NaN,
          p50Ms: Number.NaN,
          p99Ms: Number.NaN,
          meanBatch: Number.NaN,
          skipped: `one batch ≈ ${((perImageMs * batch) / 1000).toFixed(0)} s`,
        });
        continue;
      }
      // The same closed-loop measurement `models tune` makes (at least two full batches).
      const point = await measureBatching(
        model,
        { maxBatchSize: batch, maxDelayMs: 2 },
        { durationMs: seconds * 1000 },
      );
      rows.push({
        backend,
        model: name,
        batch,
        imagesPerSecond: point.imagesPerSecond,
        p50Ms: point.p50Ms,
        p99Ms: point.p99Ms,
        meanBatch: point.meanBatch,
      });
      const row = rows.at(-1)!;
      console.log(
        `${backend} ${name} batch ${batch}: ${row.imagesPerSecond.toFixed(1)} images/s, p50 ${row.p50Ms.toFixed(1)} ms, p99 ${row.p99Ms.toFixed(1)} ms`,
      );
    }
    model.dispose();
  }
}

const after = machineLoad();
console.log('');
printTable(
  rows.map((row) => ({
    backend: row.backend,
    model: row.model,
    batch: row.batch,
    'images/s': row.skipped ? `skipped (${row.skipped})` : row.imagesPerSecond.toFixed(1),
    'p50 ms': row.skipped ? '' : row.p50Ms.toFixed(1),
    'p99 ms': row.skipped ? '' : row.p99Ms.toFixed(1),
    'mean batch': row.skipped ? '' : row.meanBatch.toFixed(1),
  })),
);
// Throughput of each batch size relative to batch 1 of the same backend and model.
for (const key of new Set(rows.map((row) => `${row.backend}/${row.model}`))) {
  const group = rows.filter((row) => `${row.backend}/${row.model}` === key && !row.skipped);
  const base = group.find((row) => row.batch === 1);
  if (base)
    console.log(
      `${key}: throughput vs batch 1: ${group.map((row) => `${row.batch}→${(row.imagesPerSecond / base.imagesPerSecond).toFixed(2)}×`).join(', ')}`,
    );
}
console.log(`load average: ${before.load1} before, ${after.load1} after (${after.cores} cores, shared)`);
console.log(`wrote ${writeResults('batching', { seconds, rows, unavailable, load: { before, after } })}`);
