// Memory of registering a large model by URL: the API's RSS while downloadModel streams a model
// with one big shard to disk, beside reading the same files into memory (the way it was done
// before: fetch + arrayBuffer per file, all shards at once). Local HTTP server on loopback,
// allowed as an internal host. `--mib N` sets the shard size (default 256).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { downloadModel } from '@inferq/models';
import { printTable, writeResults } from './lib/stats.ts';

const mibArg = process.argv.indexOf('--mib');
const mib = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 256;
const shardBytes = mib * 1024 * 1024;
const modelJson = JSON.stringify({
  format: 'layers-model',
  modelTopology: { class_name: 'Sequential' },
  weightsManifest: [{ paths: ['big.bin'], weights: [{ name: 'w', shape: [shardBytes / 4], dtype: 'float32' }] }],
});
const chunk = Buffer.alloc(1024 * 1024, 7);
const server = createServer((req, res) => {
  if (req.url === '/m/model.json')
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(modelJson);
  if (req.url !== '/m/big.bin') return void res.writeHead(404).end();
  res.writeHead(200, { 'content-length': String(shardBytes) });
  let sent = 0;
  const push = () => {
    while (sent < shardBytes) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', push);
    }
    res.end();
  };
  push();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/`;

async function peakRss(run: () => Promise<unknown>): Promise<{ baseMiB: number; peakMiB: number; seconds: number }> {
  globalThis.gc?.();
  const baseRss = process.memoryUsage.rss();
  let peak = baseRss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  const started = performance.now();
  await run();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss());
  return {
    baseMiB: Math.round(baseRss / 1024 ** 2),
    peakMiB: Math.round(peak / 1024 ** 2),
    seconds: Number(seconds.toFixed(2)),
  };
}

const rows: Array<Record<string, string | number>> = [];
const folder = await mkdtemp(path.join(tmpdir(), 'inferq-bench-download-'));
try {
  const streamed = await peakRss(() =>
    downloadModel(`${base}model.json`, {
      into: folder,
      policy: { allowHosts: ['127.0.0.1'] },
      maxBytes: shardBytes * 2,
    }),
  );
  rows.push({
    way: 'downloadModel (streamed to disk)',
    'shard MiB': mib,
    ...streamed,
    'growth MiB': streamed.peakMiB - streamed.baseMiB,
  });
  const inMemory = await peakRss(async () => {
    const json = await (await fetch(`${base}model.json`)).arrayBuffer();
    const shard = await (await fetch(`${base}big.bin`)).arrayBuffer();
    return json.byteLength + shard.byteLength;
  });
  rows.push({
    way: 'fetch + arrayBuffer (in memory)',
    'shard MiB': mib,
    ...inMemory,
    'growth MiB': inMemory.peakMiB - inMemory.baseMiB,
  });
} finally {
  await rm(folder, { recursive: true, force: true });
  server.close();
}
printTable(rows);
console.log(`results: ${writeResults('modelDownload', rows)}`);
