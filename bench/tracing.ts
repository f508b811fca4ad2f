// What tracing costs per job, off and on: the spans one job makes across the queue (submit,
// admission, enqueue with its traceparent, the worker's attempt from that traceparent, start,
// batch, result write), run back to back in one process. Off is the default (no OTLP endpoint):
// a shared no-op span and no carrier. On exports through the SDK's batch processor to an exporter
// that drops what it gets, so the figure is the SDK's own cost, not a collector's.
//   pnpm bench tracing [--jobs 200000]
import { parseArgs } from 'node:util';
import { createTracing, disabledTracing, type Tracing } from '@inferq/tracing';
import { printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: { jobs: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '5' } },
});
const jobs = Number(values.jobs);

function oneJob(tracing: Tracing): void {
  const submit = tracing.startSpan('submit', { attributes: { 'inferq.model': 'nsfw' } });
  tracing.startSpan('admission', { parent: submit }).end();
  const enqueue = tracing.startSpan('enqueue', { parent: submit });
  // The payload goes through Redis as JSON.
  const payload = JSON.stringify({
    jobId: '00000000-0000-4000-8000-000000000000',
    model: 'nsfw',
    trace: tracing.carrier(enqueue),
  });
  enqueue.end();
  submit.end();
  const carried = JSON.parse(payload) as { trace?: { traceparent: string } };
  const attempt = tracing.startSpan('attempt', {
    parent: tracing.contextOf(carried.trace),
    attributes: { 'inferq.model': 'nsfw' },
  });
  tracing.startSpan('start', { parent: attempt }).end();
  tracing.startSpan('batch', { parent: attempt, attributes: { 'inferq.batch_size': 1 } }).end();
  tracing.startSpan('result write', { parent: attempt }).end();
  attempt.end();
}

/** The same payload round trip with no tracing call at all: the baseline both are measured against. */
function untracedJob(): void {
  const payload = JSON.stringify({ jobId: '00000000-0000-4000-8000-000000000000', model: 'nsfw' });
  JSON.parse(payload);
}

function nsPerJob(tracing: Tracing | undefined): number {
  const run = tracing ? () => oneJob(tracing) : untracedJob;
  for (let i = 0; i < 2000; i++) run();
  const started = process.hrtime.bigint();
  for (let i = 0; i < jobs; i++) run();
  return Number(process.hrtime.bigint() - started) / jobs;
}

const dropping = {
  export: (_spans: unknown[], done: (result: { code: number }) => void) =>
    done({ code: 0 /* ExportResultCode.SUCCESS */ }),
  shutdown: async () => {},
};
const on = createTracing({ serviceName: 'bench', exporter: dropping, batch: true });
const samples = { none: [] as number[], off: [] as number[], on: [] as number[] };
for (let round = 0; round < Number(values.rounds); round++) {
  samples.none.push(nsPerJob(undefined));
  samples.off.push(nsPerJob(disabledTracing));
  samples.on.push(nsPerJob(on));
}
await on.shutdown();
const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const none = median(samples.none);
const off = median(samples.off) - none;
const onNs = median(samples.on) - none;
printTable([
  {
    tracing: 'off (default)',
    'ns per job added (7 spans)': off.toFixed(0),
    'share of 2 ms of CPU per job': `${((off / 2e6) * 100).toFixed(4)}%`,
  },
  {
    tracing: 'on (batch export, dropped)',
    'ns per job added (7 spans)': onNs.toFixed(0),
    'share of 2 ms of CPU per job': `${((onNs / 2e6) * 100).toFixed(3)}%`,
  },
]);
console.log(
  `median of ${values.rounds} rounds of ${jobs} jobs, less the same payload round trip untraced (${none.toFixed(0)} ns). A job costs the platform about 2 ms of CPU or more (pnpm bench overhead).`,
);
console.log(`wrote ${writeResults('tracing', { jobs, samples, addedNs: { off, on: onNs } })}`);
