/**
 * Trains a model with a checkpoint after every epoch, and optionally publishes it to the registry.
 *
 *     pnpm train mnist --epochs 20                          # fresh run, checkpoints/mnist/epoch-0001 …
 *     pnpm train mnist --epochs 40 --resume latest          # epochs 21–40 after 20
 *     pnpm train mnist --epochs 40 --resume checkpoints/mnist/epoch-0020
 *     pnpm train mnist --epochs 8 --export 1.1.0 [--live]   # then publish models/mnist/1.1.0
 *
 * Options: --checkpoints DIR, --models DIR (MODELS_DIR), --seed N, --train-size N,
 * --batch-size N, --hidden N, --learning-rate X, --test-size N, --backend wasm|cpu|auto.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backendPreferences, startTfjsBackend, type BackendPreference } from '@inferq/inference';
import { exportModel, mnistManifest, mnistModelName, trainMnist, type MnistTrainingConfig } from '../src/index.ts';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const usage = `usage: pnpm train mnist --epochs N [--resume latest|DIR] [--export VERSION [--live]] [--checkpoints DIR] [--models DIR]
       [--seed N] [--train-size N] [--batch-size N] [--hidden N] [--learning-rate X] [--test-size N] [--backend wasm|cpu|auto]`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    epochs: { type: 'string' },
    resume: { type: 'string' },
    export: { type: 'string' },
    live: { type: 'boolean', default: false },
    checkpoints: { type: 'string' },
    models: { type: 'string', default: process.env.MODELS_DIR ?? path.join(repoRoot, 'models') },
    seed: { type: 'string' },
    'train-size': { type: 'string' },
    'batch-size': { type: 'string' },
    hidden: { type: 'string' },
    'learning-rate': { type: 'string' },
    'test-size': { type: 'string', default: '10000' },
    backend: { type: 'string', default: 'wasm' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help || positionals[0] !== mnistModelName || values.epochs === undefined) {
  console.log(usage);
  process.exit(values.help ? 0 : 2);
}
const number = (text: string | undefined, name: string): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) {
    console.error(`--${name} must be a number`);
    process.exit(2);
  }
  return value;
};
if (!(backendPreferences as readonly string[]).includes(values.backend)) {
  console.error(`--backend is one of ${backendPreferences.join(', ')}`);
  process.exit(2);
}

await startTfjsBackend({ preferred: values.backend as BackendPreference, logger: { info: () => {}, warn: () => {} } });
const config: Partial<MnistTrainingConfig> = {};
for (const [key, flag] of [
  ['seed', 'seed'],
  ['trainSize', 'train-size'],
  ['batchSize', 'batch-size'],
  ['hiddenUnits', 'hidden'],
  ['learningRate', 'learning-rate'],
] as const) {
  const value = number(values[flag], flag);
  if (value !== undefined) config[key] = value;
}
const checkpointDir = path.resolve(values.checkpoints ?? path.join(repoRoot, 'checkpoints', mnistModelName));
const started = performance.now();
const result = await trainMnist({
  epochs: number(values.epochs, 'epochs') as number,
  checkpointDir,
  config,
  testSize: number(values['test-size'], 'test-size') as number,
  ...(values.resume !== undefined
    ? { resumeFrom: values.resume === 'latest' ? 'latest' : path.resolve(values.resume) }
    : {}),
  onEpoch: (report) =>
    console.log(
      `epoch ${report.epoch}: loss ${report.loss.toFixed(4)}, accuracy ${report.accuracy.toFixed(4)}, ${Math.round(report.ms)} ms → ${path.relative(process.cwd(), report.checkpoint)}`,
    ),
});
console.log(
  `trained epochs ${result.initialEpoch + 1}–${result.epoch} in ${((performance.now() - started) / 1000).toFixed(1)} s; test accuracy ${result.testAccuracy?.toFixed(4) ?? 'not measured'}`,
);

if (values.export !== undefined) {
  const metrics: Record<string, number> = {
    epochs: result.epoch,
    trainSize: result.config.trainSize,
    seed: result.config.seed,
  };
  if (result.testAccuracy !== null) metrics.testAccuracy = result.testAccuracy;
  const last = result.epochs.at(-1);
  if (last) metrics.trainAccuracy = last.accuracy;
  const published = await exportModel(result.model, {
    registryRoot: path.resolve(values.models),
    name: mnistModelName,
    version: values.export,
    manifest: mnistManifest(
      metrics,
      `pnpm train mnist (MLP ${result.config.hiddenUnits} hidden, ${result.epoch} epochs on ${result.config.trainSize} MNIST examples, seed ${result.config.seed})`,
    ),
    setLive: values.live,
  });
  console.log(
    `${mnistModelName}@${values.export} ${published.status} at ${published.model.location}${values.live ? ' (live)' : ''}`,
  );
}
result.model.dispose();
