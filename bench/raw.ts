// 1. Raw model limit: the worker's model on each engine in 1 and 2 processes, no HTTP, queue or
// database; images/s at each batch size. The ceiling the platform is measured against.
//   pnpm bench raw [--engines tfjs-wasm,onnxruntime-cpu] [--processes 1,2] [--threads auto] [--batches 1,2,4,8,16,32]
//                  [--seconds 3] [--model nsfw] [--image 1024x768]
// --engines: tfjs-<backend> (wasm, cpu, tensorflow…) or onnxruntime-<provider> (cpu, cuda, tensorrt, webgpu).
// --threads: ONNX Runtime intra-op threads per process; `auto` is the worker's default (1), a list
//   (1,2) measures each: threads per process against processes per host.
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@inferq/testing';
import { machineLoad } from './lib/procStat.ts';
import { measurePreprocess, measureRaw, type RawRow } from './lib/rawModel.ts';
import { printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    engines: { type: 'string', default: 'tfjs-wasm,onnxruntime-cpu' },
    processes: { type: 'string', default: '1,2' },
    threads: { type: 'string', default: 'auto' },
    batches: { type: 'string', default: '1,2,4,8,16,32' },
    seconds: { type: 'string', default: '3' },
    model: { type: 'string', default: 'nsfw' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
    image: { type: 'string', default: '1024x768' },
    'skip-preprocess': { type: 'boolean', default: false },
  },
});
const list = (text: string) => text.split(',').map(Number);
const seconds = Number(values.seconds);
const cores = availableParallelism();
const before = machineLoad();
console.log(
  `raw model limit: ${values.model}, engines ${values.engines}, ${seconds} s per point, ${cores} cores; ${before.uptime}`,
);

interface EngineRow extends RawRow {
  engine: string;
  threads: number;
}
const rows: EngineRow[] = [];
const best: Array<{ engine: string; processes: number; threads: number; row: RawRow }> = [];
for (const engine of values.engines.split(',')) {
  const onnx = engine.startsWith('onnxruntime-');
  for (const processes of list(values.processes)) {
    const threadCounts = !onnx ? [1] : values.threads === 'auto' ? [1] : list(values.threads);
    for (const threads of threadCounts) {
      try {
        const result = await measureRaw({
          modelsDir: values['models-dir'],
          model: values.model,
          processes,
          batches: list(values.batches),
          seconds,
          backend: engine,
          threads,
        });
        rows.push(...result.rows.map((row) => ({ ...row, engine: result.backend, threads })));
        best.push({ engine: result.backend, processes, threads, row: result.best });
      } catch (error) {
        console.log(
          `${engine}: ${processes} process(es) × ${threads} thread(s) did not run: ${(error as Error).message.split('\n')[0]}`,
        );
      }
    }
  }
}
const [width, height] = values.image.split('x').map(Number) as [number, number];
const preprocess = values['skip-preprocess']
  ? null
  : await measurePreprocess({
      modelsDir: values['models-dir'],
      model: values.model,
      processes: 1,
      batches: [1],
      seconds,
      width,
      height,
      backend: 'onnxruntime-cpu',
    });
const after = machineLoad();

console.log();
printTable(
  rows.map((row) => ({
    engine: row.engine,
    processes: row.processes,
    'threads/process': row.engine.startsWith('onnxruntime-') ? row.threads : 1,
    batch: row.batch,
    'images/s': row.imagesPerSecond.toFixed(1),
    'ms/image/process': row.msPerImage.toFixed(1),
  })),
);
console.log('\nbest per engine and process count:');
const wasmAt = (processes: number) =>
  best.find((b) => b.engine === 'tfjs-wasm' && b.processes === processes)?.row.imagesPerSecond;
printTable(
  best.map(({ engine, processes, threads, row }) => ({
    engine,
    processes,
    'threads/process': threads,
    'images/s': row.imagesPerSecond.toFixed(1),
    'at batch': row.batch,
    'vs tfjs-wasm (same processes)': wasmAt(processes)
      ? `${(row.imagesPerSecond / (wasmAt(processes) as number)).toFixed(1)}×`
      : '',
  })),
);
if (preprocess) {
  const ms = (stage: keyof typeof preprocess) => `${preprocess[stage].msPerImage.toFixed(2)} ms`;
  console.log(
    `\none ${values.image} JPEG outside the model, one process: worker decoding it ${ms('decode')}, worker scaling pixels stored at submit ${ms('prepared')}; API validating it ${ms('validate')}, validating and making the pixels ${ms('validate-pixels')}`,
  );
}
console.log(`load average: ${before.load1} before, ${after.load1} after`);
const file = writeResults('raw', {
  model: values.model,
  seconds,
  cores,
  rows,
  best,
  preprocess: preprocess ? { image: values.image, stages: preprocess } : null,
  load: { before, after },
});
console.log(`wrote ${file}`);
