// 1. Raw model limit: the worker's model and backend in 1 and 2 processes, no HTTP, queue or
// database; images/s at each batch size. The ceiling the platform is measured against.
//   pnpm bench raw [--processes 1,2] [--batches 1,2,4,8,16,32] [--seconds 3] [--model nsfw] [--image 1024x768]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@inferq/testing';
import { machineLoad } from './lib/procStat.ts';
import { measurePreprocess, measureRaw, type RawRow } from './lib/rawModel.ts';
import { printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '1,2' },
    batches: { type: 'string', default: '1,2,4,8,16,32' },
    seconds: { type: 'string', default: '3' },
    model: { type: 'string', default: 'nsfw' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
    image: { type: 'string', default: '1024x768' },
  },
});
const list = (text: string) => text.split(',').map(Number);
const seconds = Number(values.seconds);
const before = machineLoad();
console.log(`raw model limit: ${values.model}, wasm backend, ${seconds} s per point; ${before.uptime}`);

const rows: RawRow[] = [];
const best: Record<number, RawRow> = {};
let backend = { name: 'wasm', simd: null as boolean | null };
for (const processes of list(values.processes)) {
  const result = await measureRaw({ modelsDir: values['models-dir'], model: values.model, processes, batches: list(values.batches), seconds });
  backend = { name: result.backend, simd: result.simd };
  rows.push(...result.rows);
  best[processes] = result.best;
}
const [width, height] = values.image.split('x').map(Number) as [number, number];
const preprocess = await measurePreprocess({ modelsDir: values['models-dir'], model: values.model, processes: 1, batches: [1], seconds, width, height });
const after = machineLoad();

console.log(`\nbackend ${backend.name}${backend.simd === null ? '' : `, SIMD ${backend.simd ? 'on' : 'off'}`}\n`);
printTable(rows.map((row) => ({ processes: row.processes, batch: row.batch, 'images/s': row.imagesPerSecond.toFixed(1), 'ms/image/process': row.msPerImage.toFixed(1) })));
console.log(`\nbest: ${Object.entries(best).map(([p, row]) => `${p} process(es) ${row.imagesPerSecond.toFixed(1)} images/s at batch ${row.batch}`).join('; ')}`);
const ms = (stage: keyof typeof preprocess) => `${preprocess[stage].msPerImage.toFixed(2)} ms`;
console.log(`one ${values.image} JPEG outside the model, one process: worker decoding it ${ms('decode')}, worker scaling pixels stored at submit ${ms('prepared')}; API validating it ${ms('validate')}, validating and making the pixels ${ms('validate-pixels')}`);
console.log(`load average: ${before.load1} before, ${after.load1} after`);
const file = writeResults('raw', { model: values.model, backend, seconds, rows, best, preprocess: { image: values.image, stages: preprocess }, load: { before, after } });
console.log(`wrote ${file}`);
