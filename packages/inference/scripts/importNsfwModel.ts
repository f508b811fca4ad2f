/**
 * Writes the nsfwjs MobileNetV2 classifier into the model registry and marks it live.
 *
 *     node packages/inference/scripts/importNsfwModel.ts [--out models] [--version 4.4.0] [--no-live] [--force]
 *
 * Safe to re-run: a version folder that already holds the same files is left alone.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { importNsfwModel } from './lib/importNsfwModel.ts';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: path.join(repoRoot, 'models') },
    version: { type: 'string' },
    live: { type: 'boolean', default: true },
    force: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowNegative: true,
});

if (values.help) {
  console.log(
    'usage: node packages/inference/scripts/importNsfwModel.ts [--out <registry dir>] [--version <v>] [--no-live] [--force]',
  );
  process.exit(0);
}

const started = performance.now();
const result = await importNsfwModel({
  outDir: path.resolve(values.out),
  setLive: values.live,
  force: values.force,
  ...(values.version !== undefined ? { version: values.version } : {}),
});
const ms = Math.round(performance.now() - started);
console.log(
  `${result.name}@${result.version} ${result.status} at ${result.location} (sha256 ${result.sha256.slice(0, 12)}…, ${result.live ? 'live' : 'not live'}, ${ms} ms)`,
);
