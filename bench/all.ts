// Every part of the suite, one after the other (each in a process of its own), then one summary
// table against the targets. About 8–10 minutes on a quiet 2-core machine; `--quick` runs each
// part with small counts (a smoke test of the suite, numbers not meaningful).
//   pnpm bench all [--quick] [--only raw,e2e,...]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { machineLoad } from './lib/procStat.ts';
import { formatMs, printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const quick = values.quick;
const parts: Array<[string, string[]]> = [
  ['raw', quick ? ['--seconds', '1', '--batches', '1,8'] : ['--seconds', '2']],
  [
    'e2e',
    quick
      ? ['--workers', '1', '--seconds', '4', '--raw-batches', '1', '--raw-seconds', '1']
      : ['--workers', '1,2', '--seconds', '20'],
  ],
  ['overhead', quick ? ['--seconds', '4', '--anchor-jobs', '1000'] : ['--seconds', '15']],
  ['naive', quick ? ['--seconds', '4', '--overload-seconds', '4'] : []],
  ['overload', quick ? ['--seconds', '4', '--prefill', '200', '--rate', '50'] : []],
  ['memory', quick ? ['--jobs', '1200', '--max-seconds', '60'] : ['--max-seconds', '240']],
];
const only = values.only?.split(',');
const started = new Date();
const before = machineLoad();
console.log(`pnpm bench all${quick ? ' --quick' : ''}: ${before.uptime}\n`);

const outcomes: Record<string, { status: number | null; seconds: number }> = {};
for (const [part, args] of parts) {
  if (only && !only.includes(part)) continue;
  console.log(`\n=== ${part} ${args.join(' ')}`);
  const t0 = performance.now();
  const run = spawnSync(process.execPath, [path.join(import.meta.dirname, 'index.ts'), part, ...args], {
    stdio: 'inherit',
  });
  outcomes[part] = { status: run.status, seconds: (performance.now() - t0) / 1000 };
}
const after = machineLoad();

/** A part's results, if this run wrote them. */
function results<T>(name: string): T | undefined {
  const file = path.resolve(import.meta.dirname, '../bench-results', `${name}.json`);
  if (!existsSync(file)) return undefined;
  const data = JSON.parse(readFileSync(file, 'utf8')) as T & { at: string };
  return new Date(data.at) >= started ? data : undefined;
}
type Summary = ReturnType<typeof import('./lib/stats.ts').summarize>;
type StageCost = { msPerImage: number };
const raw = results<{
  best: Array<{ engine: string; processes: number; threads: number; row: { imagesPerSecond: number; batch: number } }>;
  preprocess: { stages: Record<'decode' | 'prepared' | 'validate' | 'validate-pixels', StageCost> };
}>('raw');
const e2e = results<{
  rows: Array<{
    workers: number;
    ratio: number;
    bareRatio: number;
    bareImagesPerSecond: number;
    rawImagesPerSecond: number;
    run: { jobsPerSecond: number; endToEndMs: Summary; submitMs: Summary };
  }>;
}>('e2e');
const overhead = results<{
  result: { jobsPerSecond: number; cpuMsPerJob: Record<string, number>; endToEndMs: Summary };
  anchor: Array<{ mode: string; jobsPerSecond: number; addsPerSecond: number }>;
}>('overhead');
const naive = results<{
  rows: Array<{
    system: string;
    phase: string;
    jobsPerSecond: number;
    latencyMs: Summary;
    refused: number;
    timeouts: number;
    withinTimeout: number;
  }>;
  timeoutSeconds: number;
}>('naive');
const overload = results<{
  rate: number;
  result: {
    submitMs: Summary;
    timeouts: number;
    statuses: Record<string, number>;
    depthBefore: number;
    depthAfter: number;
  };
}>('overload');
const memory = results<{
  jobs: number;
  workerGrowthFrom1000: number[];
  tensors: { idleBefore: number[]; idleAfter: number[] };
}>('memory');

const rows: Array<{ measure: string; result: string; target: string; met: string }> = [];
const yes = (ok: boolean) => (ok ? 'yes' : 'NO');
if (raw) {
  for (const { engine, processes, threads, row } of raw.best) {
    rows.push({
      measure: `raw model limit, ${engine}, ${processes} process(es) × ${threads} thread(s)`,
      result: `${row.imagesPerSecond.toFixed(1)} images/s (batch ${row.batch})`,
      target: 'the ceiling',
      met: '',
    });
  }
  const stages = raw.preprocess.stages;
  rows.push({
    measure: 'worker preprocessing, one upload',
    result: `${formatMs(stages.prepared.msPerImage)} from stored pixels (${formatMs(stages.decode.msPerImage)} decoding the upload)`,
    target: '',
    met: '',
  });
  rows.push({
    measure: 'API validation, one upload',
    result: `${formatMs(stages['validate-pixels'].msPerImage)} making the pixels too (${formatMs(stages.validate.msPerImage)} validating only)`,
    target: '',
    met: '',
  });
}
for (const row of e2e?.rows ?? []) {
  rows.push({
    measure: `end to end, ${row.workers} worker entr${row.workers === 1 ? 'y' : 'ies'}`,
    result: `${row.run.jobsPerSecond.toFixed(1)} jobs/s = ${row.bareRatio.toFixed(2)}× the bare pipeline (${row.bareImagesPerSecond.toFixed(1)} images/s), ${(row.ratio * 100).toFixed(0)}% of the raw model; e2e p50/p99 ${formatMs(row.run.endToEndMs.p50)} / ${formatMs(row.run.endToEndMs.p99)}`,
    target: '>= 0.7× the bare pipeline',
    met: yes(row.bareRatio >= 0.7),
  });
}
if (overhead) {
  const cpu = overhead.result.cpuMsPerJob;
  rows.push({
    measure: 'overhead run (trivial model)',
    result: `${overhead.result.jobsPerSecond.toFixed(0)} jobs/s`,
    target: '>= 1000 jobs/s',
    met: yes(overhead.result.jobsPerSecond >= 1000),
  });
  rows.push({
    measure: 'CPU ms per job',
    result: `API ${cpu.api!.toFixed(2)}, workers ${cpu.workers!.toFixed(2)}, Postgres ${cpu.postgres!.toFixed(2)}, Redis ${cpu.redis!.toFixed(2)}`,
    target: '',
    met: '',
  });
  for (const anchor of overhead.anchor)
    rows.push({
      measure: `BullMQ ${anchor.mode === 'single' ? 'add' : 'addBulk'} + no-op worker`,
      result: `${anchor.jobsPerSecond.toFixed(0)} jobs/s (adds ${anchor.addsPerSecond.toFixed(0)}/s)`,
      target: 'anchor',
      met: '',
    });
}
if (naive) {
  const find = (system: string, phase: string) =>
    naive.rows.find((row) => row.system === system && row.phase === phase);
  const [nl, pl, no, po] = [
    find('naive', 'low load'),
    find('platform', 'low load'),
    find('naive', 'overload'),
    find('platform', 'overload'),
  ];
  if (nl && pl) {
    rows.push({
      measure: 'low load: platform vs naive',
      result: `${pl.jobsPerSecond.toFixed(1)} vs ${nl.jobsPerSecond.toFixed(1)} results/s; p99 ${formatMs(pl.latencyMs.p99)} vs ${formatMs(nl.latencyMs.p99)}`,
      target: 'within 10%',
      met: yes(pl.jobsPerSecond >= 0.9 * nl.jobsPerSecond),
    });
  }
  if (no && po) {
    rows.push({
      measure: 'overload: platform vs naive',
      result: `${po.jobsPerSecond.toFixed(1)} vs ${no.jobsPerSecond.toFixed(1)} results/s; refused ${po.refused} vs ${no.refused}; timeouts ${po.timeouts} vs ${no.timeouts}; results within ${naive.timeoutSeconds} s ${po.withinTimeout} vs ${no.withinTimeout}`,
      target: 'zero timeouts',
      met: yes(po.timeouts === 0),
    });
  }
}
if (overload) {
  const r = overload.result;
  rows.push({
    measure: `submit answer at ${overload.rate}/s, workers saturated`,
    result: `p50 ${formatMs(r.submitMs.p50)}, p99 ${formatMs(r.submitMs.p99)}; ${r.timeouts} timeouts; queue ${r.depthBefore} → ${r.depthAfter}`,
    target: 'p99 <= 25 ms',
    met: yes(r.submitMs.p99 <= 25 && r.timeouts === 0),
  });
}
if (memory) {
  const growth = Math.max(...memory.workerGrowthFrom1000.map(Math.abs));
  const tensorsBack = memory.tensors.idleAfter.every((n, i) => n === memory.tensors.idleBefore[i]);
  rows.push({
    measure: `worker RSS, job 1,000 → ${memory.jobs}`,
    result: `${memory.workerGrowthFrom1000.map((g) => `${(g * 100).toFixed(1)}%`).join(' / ')}; tensors ${memory.tensors.idleBefore.join('/')} → ${memory.tensors.idleAfter.join('/')}`,
    target: '±10%, tensors back to idle',
    met: yes(growth <= 0.1 && tensorsBack),
  });
}
console.log(
  `\n=== summary (load average ${before.load1} at the start, ${after.load1} at the end; ${before.cores} cores)\n`,
);
printTable(rows);
const failedParts = Object.entries(outcomes).filter(([, outcome]) => outcome.status !== 0);
if (failedParts.length > 0)
  console.log(
    `\nparts that failed: ${failedParts.map(([part, outcome]) => `${part} (exit ${outcome.status})`).join(', ')}`,
  );
const file = writeResults('all', { quick, outcomes, rows, load: { before, after } });
console.log(`wrote ${file}`);
process.exit(failedParts.length > 0 ? 1 : 0);
