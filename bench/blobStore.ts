// What a job input's write (the API) and read (the worker) cost in the file blob store: blocking
// calls on the calling thread (the default up to BLOB_STORE_FILE_BLOCKING_MAX_BYTES), the write
// on the store's writer thread (the API's way while its event loop is busy), and a trip through
// libuv's thread pool for each step (BLOB_STORE_FILE_BLOCKING_MAX_BYTES=0). CPU of every thread of
// this process per operation (process.cpuUsage), CPU of the calling thread (what the event loop
// spends), and the wall time the caller waits, which for the blocking calls is also the time its
// event loop is held. The ways take turns, round by round, in a fresh folder under --folder (the
// disk the store would be on). Each round removes its files: on ext4 without a journal the next
// rounds' file creations then cost more (freed inodes are skipped for a minute or more), alike
// for every way.
//   pnpm bench blobstore [--sizes 1024,130000,4000000] [--ops 500] [--rounds 9] [--folder DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultBlockingMaxBytes, FileBlobStore, inputBlobKey } from '@inferq/storage';
import { median, printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1024,130000,4000000' },
    ops: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '9' },
    folder: { type: 'string', default: tmpdir() },
    quick: { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number);
const ops = values.quick ? 50 : Number(values.ops);
const rounds = values.quick ? 3 : Number(values.rounds);
const root = mkdtempSync(path.join(values.folder, 'inferq-bench-blobstore-'));

const ways = [
  { name: 'blocking', options: { blockingMaxBytes: Number.MAX_SAFE_INTEGER }, reads: true },
  // Writes only: its reads are the pool's.
  {
    name: 'writer thread',
    options: { blockingMaxBytes: Number.MAX_SAFE_INTEGER, mayBlock: () => false, writerThread: true },
    reads: false,
  },
  { name: 'thread pool', options: { blockingMaxBytes: 0 }, reads: true },
];
const pool = ways.length - 1;

interface Sample {
  cpuUs: number;
  callerCpuUs: number;
  wallUs: number;
}

async function measure(run: (i: number) => Promise<unknown>): Promise<Sample> {
  const cpu = process.cpuUsage();
  const caller = process.threadCpuUsage();
  const started = performance.now();
  for (let i = 0; i < ops; i++) await run(i);
  const used = process.cpuUsage(cpu);
  const callerUsed = process.threadCpuUsage(caller);
  return {
    cpuUs: (used.user + used.system) / ops,
    callerCpuUs: (callerUsed.user + callerUsed.system) / ops,
    wallUs: ((performance.now() - started) * 1000) / ops,
  };
}

const keyOf = (round: number, way: number, i: number) =>
  inputBlobKey(`00000000-0000-4000-8000-${String(round * 10 + way).padStart(4, '0')}${String(i).padStart(8, '0')}`);

const rows: Array<Record<string, string | number>> = [];
try {
  for (const size of sizes) {
    const body = Buffer.alloc(size, 0x5a);
    const samples = ways.map(() => ({ write: [] as Sample[], read: [] as Sample[] }));
    for (let round = 0; round < rounds; round++) {
      for (const [w, way] of ways.entries()) {
        const store = new FileBlobStore(path.join(root, String(size)), way.options);
        // One write first, not counted: the writer thread starts on a store's first write.
        await store.put(keyOf(round, w, ops), body);
        samples[w]!.write.push(await measure((i) => store.put(keyOf(round, w, i), body)));
        if (way.reads) samples[w]!.read.push(await measure((i) => store.get(keyOf(round, w, i))));
        await store.delete(Array.from({ length: ops + 1 }, (_, i) => keyOf(round, w, i)));
        await store.close();
      }
    }
    for (const [w, way] of ways.entries()) {
      const of = (list: Sample[], field: keyof Sample) => median(list.map((sample) => sample[field]));
      const base = samples[pool]!;
      const reads = way.reads;
      const read = (field: keyof Sample) => (reads ? of(samples[w]!.read, field).toFixed(1) : '(pool)');
      rows.push({
        bytes: size,
        way: way.name,
        'write CPU µs': of(samples[w]!.write, 'cpuUs').toFixed(1),
        'write CPU µs, caller': of(samples[w]!.write, 'callerCpuUs').toFixed(1),
        'write wall µs': of(samples[w]!.write, 'wallUs').toFixed(1),
        'read CPU µs': read('cpuUs'),
        'read CPU µs, caller': read('callerCpuUs'),
        'read wall µs': read('wallUs'),
        'CPU vs pool (write, read)': `${(of(samples[w]!.write, 'cpuUs') / of(base.write, 'cpuUs')).toFixed(2)}×, ${reads ? `${(of(samples[w]!.read, 'cpuUs') / of(base.read, 'cpuUs')).toFixed(2)}×` : '—'}`,
      });
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}

console.log(
  `file blob store: ${ops} writes then ${ops} reads a round, ${rounds} rounds taking turns, medians; folder under ${values.folder}; ` +
    `by default blobs up to ${defaultBlockingMaxBytes} bytes are blocking (the API's writes on the writer thread while its event loop is busy), larger ones go through the pool`,
);
printTable(rows);
console.log(`results: ${writeResults('blobStore', rows)}`);
