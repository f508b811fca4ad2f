// Summarizes V8 CPU profiles (node --cpu-prof, e.g. from `pnpm bench overhead --cpu-prof DIR`):
// self time grouped by package (or workspace file) and the top functions, per profile.
// `--skip S` leaves out each profile's first S seconds (process start: module loading, model
// warm-up), so what remains is the process under load.
//   pnpm bench profile DIR [--top 15] [--skip 0]
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { printTable } from './lib/stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '15' }, skip: { type: 'string', default: '0' } },
});
const dir = positionals[0];
if (!dir) {
  console.log('usage: pnpm bench profile DIR [--top 15]');
  process.exit(2);
}

/** node_modules/.pnpm/<pkg>/node_modules/<name>/… → <name>; workspace files by their path. */
function groupOf(url: string): string {
  if (!url) return '(native, gc, idle)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const repo =
    url.indexOf('/apps/') >= 0
      ? url.slice(url.indexOf('/apps/') + 1)
      : url.indexOf('/packages/') >= 0
        ? url.slice(url.indexOf('/packages/') + 1)
        : url;
  return repo.replace(/^file:\/\//, '');
}

for (const file of readdirSync(dir)
  .filter((name) => name.endsWith('.cpuprofile'))
  .sort()) {
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map<number, number>();
  const skipUs = Number(values.skip) * 1_000_000;
  let at = profile.startTime;
  let counted = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at - profile.startTime < skipUs) return;
    counted += delta;
    selfMs.set(id, (selfMs.get(id) ?? 0) + delta / 1000);
  });
  const total = counted / 1000;
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let idle = 0;
  for (const [id, ms] of selfMs) {
    const node = byId.get(id)!;
    const name = node.callFrame.functionName;
    if (name === '(idle)' || name === '(program)') {
      if (name === '(idle)') idle += ms;
      else groups.set('(program: native, C++)', (groups.get('(program: native, C++)') ?? 0) + ms);
      continue;
    }
    const group = name === '(garbage collector)' ? '(garbage collector)' : groupOf(node.callFrame.url);
    groups.set(group, (groups.get(group) ?? 0) + ms);
    const key = `${name || '(anonymous)'} ${groupOf(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + ms);
  }
  const busy = total - idle;
  console.log(
    `\n${file}: ${(total / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s on the CPU (main thread)\n`,
  );
  const top = Number(values.top);
  const rows = (map: Map<string, number>, label: string) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, ms]) => ({
        [label]: key.slice(0, 110),
        'self ms': ms.toFixed(0),
        'of busy': `${((ms / busy) * 100).toFixed(1)}%`,
      }));
  printTable(rows(groups, 'package or file'));
  console.log();
  printTable(rows(functions, 'function'));
}
