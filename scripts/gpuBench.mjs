// The raw model benchmark of scripts/gpu-check.sh, standing alone: onnxruntime-node and one
// model.onnx, nothing else of the repository (the device copy of the tree has no node_modules).
// Runs the model on each execution provider that starts, at each batch size, and prints
// images/s. Inputs are seeded noise of the model's NHWC input shape.
//   node scripts/gpuBench.mjs --ort DIR --model model.onnx [--providers cpu,webgpu,cuda,tensorrt] [--batches 1,2,4,...,256] [--seconds 3] [--threads N]
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';

const { values } = parseArgs({
  options: {
    ort: { type: 'string' },
    model: { type: 'string' },
    providers: { type: 'string', default: 'cpu,webgpu,cuda,tensorrt' },
    batches: { type: 'string', default: '1,2,4,8,16,32,64,128,256' },
    seconds: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
  },
});
const ort = createRequire(path.join(path.resolve(values.ort), 'package.json'))('onnxruntime-node');
ort.env.logLevel = 'error';
const bytes = readFileSync(values.model);
const batches = values.batches.split(',').map(Number);
const seconds = Number(values.seconds);
const rows = [];
const failures = [];

for (const provider of values.providers.split(',')) {
  let session;
  const startedAt = performance.now();
  try {
    const providers = provider === 'cpu' ? ['cpu'] : [provider, 'cpu'];
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: providers,
      graphOptimizationLevel: 'all',
      intraOpNumThreads: Number(values.threads),
    });
  } catch (error) {
    failures.push({ provider, reason: String(error.message).split('\n')[0] });
    continue;
  }
  const createMs = performance.now() - startedAt;
  const input = session.inputNames[0];
  const meta = session.inputMetadata?.[0];
  const dims = (meta?.shape ?? ['batch', 224, 224, 3]).slice(1).map((d) => (typeof d === 'number' && d > 0 ? d : 224));
  const size = dims.reduce((a, b) => a * b, 1);
  for (const batch of batches) {
    const data = new Float32Array(batch * size);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 256) / 255;
    const feeds = { [input]: new ort.Tensor('float32', data, [batch, ...dims]) };
    try {
      const first = performance.now();
      await session.run(feeds); // warm-up: kernels compiled, engines built for this shape
      const firstMs = performance.now() - first;
      let items = 0;
      const started = performance.now();
      while (performance.now() - started < seconds * 1000) {
        await session.run(feeds);
        items += batch;
      }
      const ms = performance.now() - started;
      rows.push({
        provider,
        batch,
        'images/s': ((items * 1000) / ms).toFixed(1),
        'ms/batch': ((ms * batch) / items).toFixed(2),
        'first run ms': firstMs.toFixed(0),
        'session ms': createMs.toFixed(0),
      });
    } catch (error) {
      rows.push({
        provider,
        batch,
        'images/s': 'failed',
        'ms/batch': String(error.message).split('\n')[0].slice(0, 80),
        'first run ms': '',
        'session ms': createMs.toFixed(0),
      });
      break; // a larger batch will not fit either (memory)
    }
  }
  await session.release();
}

const columns = ['provider', 'batch', 'images/s', 'ms/batch', 'first run ms', 'session ms'];
const width = (c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length));
console.log(columns.map((c) => c.padEnd(width(c))).join('  '));
for (const row of rows) console.log(columns.map((c) => String(row[c]).padEnd(width(c))).join('  '));
for (const { provider, reason } of failures) console.log(`${provider}: did not start: ${reason}`);
console.log(JSON.stringify({ ort: ort.env.versions, threads: Number(values.threads), rows, failures }));
