/**
 * Writes the committed MNIST digit classifier into the model registry (live if the model has no
 * live version yet).
 *
 *     node packages/training/scripts/importMnistModel.ts [--out models] [--no-live]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { importMnistModel } from '../src/importMnistModel.ts';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: path.join(repoRoot, 'models') },
    live: { type: 'boolean', default: true },
  },
  allowNegative: true,
});
const result = await importMnistModel({ outDir: path.resolve(values.out), setLive: values.live });
console.log(
  `${result.model.name}@${result.model.version} ${result.status} at ${result.model.location} (sha256 ${result.model.manifest.sha256.slice(0, 12)}…)`,
);
