// `models tune` against `pnpm bench batching`: for each model, the setting the tuner picks (the
// lowest p99 among the settings within 3% of the best rate inside a p99 budget) beside the best
// the batching bench's sweep finds at no worse p99 (batch 1,4,8,16,32, delay 2 ms: the most
// images/s among its points whose p99 is at most the tuned pick's; the overall best is printed
// too). The two settings are then measured again in turns, --rounds times each, in the same
// process: medians of images/s and p99, and the ratio of the rates. Target: ≥ 0.95.
//   pnpm bench tune [--models nsfw,mnist] [--seconds 1.5] [--rounds 3] [--budget-ms 1000]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createInferenceEngines, loadModel, measureBatching, tuneBatching, type BatchPoint } from '@inferq/inference';
import { ModelRegistry } from '@inferq/models';
import { repoRoot } from '@inferq/testing';
import { machineLoad } from './lib/procStat.ts';
import { median, printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'nsfw,mnist' },
    seconds: { type: 'string', default: '1.5' },
    rounds: { type: 'string', default: '3' },
    'budget-ms': { type: 'string' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
  },
});
const durationMs = Number(values.seconds) * 1000;
const rounds = Number(values.rounds);
const registry = new ModelRegistry({ root: values['models-dir'] });
const quiet = { info() {}, warn() {} };
const before = machineLoad();
const engines = await createInferenceEngines({
  tfjsBackend: 'auto',
  onnxProvider: 'auto',
  intraOpThreads: 1,
  logger: quiet,
});
console.log(
  `models tune vs bench batching: ${values.seconds} s a point, ${rounds} rounds of the two picks; ${before.uptime}`,
);

const rows: Array<Record<string, string | number>> = [];
const results: unknown[] = [];
for (const name of values.models.split(',')) {
  const { manifest, location } = await registry.resolve(name);
  const model = await loadModel(location, manifest, { engines });
  const budgetMs =
    values['budget-ms'] !== undefined ? Number(values['budget-ms']) : (manifest.limits?.latencyBudgetMs ?? 1000);
  // The batching bench's sweep and its pick: the most images/s.
  const sweep: BatchPoint[] = [];
  for (const size of [1, 4, 8, 16, 32])
    sweep.push(await measureBatching(model, { maxBatchSize: size, maxDelayMs: 2 }, { durationMs }));
  const fastest = (points: BatchPoint[]) => points.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));
  const tuned = await tuneBatching(model, { budgetMs, durationMs });
  if (!tuned.best) {
    console.log(`${name}: no setting within ${budgetMs} ms`);
    model.dispose();
    continue;
  }
  const tunedP99 = tuned.best.p99Ms;
  const noWorse = sweep.filter((point) => point.p99Ms <= tunedP99);
  const benchBest = noWorse.length > 0 ? fastest(noWorse) : sweep.reduce((a, b) => (b.p99Ms < a.p99Ms ? b : a));
  const overall = fastest(sweep);
  console.log(
    `${name}: the sweep's fastest overall b${overall.maxBatchSize}d${overall.maxDelayMs} ${overall.imagesPerSecond.toFixed(1)} images/s p99 ${overall.p99Ms.toFixed(1)} ms; at p99 ≤ ${tunedP99.toFixed(1)} ms b${benchBest.maxBatchSize}d${benchBest.maxDelayMs}`,
  );
  const picks = {
    bench: { maxBatchSize: benchBest.maxBatchSize, maxDelayMs: benchBest.maxDelayMs },
    tuned: { maxBatchSize: tuned.best.maxBatchSize, maxDelayMs: tuned.best.maxDelayMs },
  };
  const again: Record<'bench' | 'tuned', BatchPoint[]> = { bench: [], tuned: [] };
  for (let round = 0; round < rounds; round++) {
    again.bench.push(await measureBatching(model, picks.bench, { durationMs }));
    again.tuned.push(await measureBatching(model, picks.tuned, { durationMs }));
  }
  model.dispose();
  const rate = (which: 'bench' | 'tuned') => median(again[which].map((point) => point.imagesPerSecond));
  const p99 = (which: 'bench' | 'tuned') => median(again[which].map((point) => point.p99Ms));
  const ratio = rate('tuned') / rate('bench');
  console.log(
    `${name} on ${model.engine}: tuned b${picks.tuned.maxBatchSize}d${picks.tuned.maxDelayMs} ${rate('tuned').toFixed(1)} images/s p99 ${p99('tuned').toFixed(1)} ms; bench best b${picks.bench.maxBatchSize}d${picks.bench.maxDelayMs} ${rate('bench').toFixed(1)} images/s p99 ${p99('bench').toFixed(1)} ms; rate ratio ${ratio.toFixed(3)}`,
  );
  rows.push({
    model: name,
    engine: model.engine,
    'budget ms': budgetMs,
    'tuned pick': `b${picks.tuned.maxBatchSize} d${picks.tuned.maxDelayMs}`,
    'tuned images/s': rate('tuned').toFixed(1),
    'tuned p99 ms': p99('tuned').toFixed(1),
    'bench best at no worse p99': `b${picks.bench.maxBatchSize} d${picks.bench.maxDelayMs}`,
    'bench images/s': rate('bench').toFixed(1),
    'bench p99 ms': p99('bench').toFixed(1),
    'rate ratio': ratio.toFixed(3),
    'target ≥0.95': ratio >= 0.95 ? 'met' : 'not met',
  });
  results.push({ model: name, engine: model.engine, budgetMs, sweep, overall, tunePoints: tuned.points, picks, again });
}
const after = machineLoad();
console.log('');
printTable(rows);
console.log(`load average: ${before.load1} before, ${after.load1} after (${after.cores} cores, shared)`);
console.log(`wrote ${writeResults('tune', { durationMs, rounds, rows, results, load: { before, after } })}`);
