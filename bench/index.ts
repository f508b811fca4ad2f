// `pnpm bench <name> [args…]`: runs one benchmark; `pnpm bench` lists them.
// Benchmarks print medians and ratios and write JSON under bench-results/; each is bounded in time.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const benchmarks: Record<string, { file: string; about: string }> = {
  pipeline: { file: 'pipelineLatency.ts', about: 'per-image worker latency and end-to-end latency of single jobs (median of 20)' },
  admission: { file: 'admission.ts', about: 'cost of admitting a job: per-user in-flight count and admit transaction (Postgres), global queue length (Redis)' },
  ratelimit: { file: 'rateLimit.ts', about: 'p50/p99 latency of 429 answers under a flood (autocannon, loopback) next to a 200 poll' },
  streams: { file: 'streams.ts', about: 'live dashboard streams: API latency p50/p99 and memory with 0 and 200 open SSE streams, event delay, connections' },
};

const [name, ...args] = process.argv.slice(2);
const entry = name ? benchmarks[name] : undefined;
if (!entry) {
  console.log('usage: pnpm bench <name> [args]\n');
  for (const [key, value] of Object.entries(benchmarks)) console.log(`  ${key.padEnd(12)} ${value.about}`);
  process.exit(name ? 2 : 0);
}
process.argv = [process.argv[0]!, entry.file, ...args];
await import(pathToFileURL(path.join(import.meta.dirname, entry.file)).href);
