// A trivial model for the overhead runs: 32×32 greyscale → one Dense layer → 4 softmax scores.
// It costs microseconds per image, so what a run measures is the platform around the model.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { computeModelHash, ModelRegistry, type ModelManifestInput } from '@inferq/models';

export const tinyModelName = 'tiny';
export const tinyModelSide = 32;

/** Writes the tiny model as the live version of `tiny` in a fresh registry folder; returns the folder. */
export async function createTinyModelRegistry(): Promise<string> {
  tf.enableProdMode(); // also keeps the cpu backend from printing its tfjs-node advice
  await tf.setBackend('cpu');
  const root = mkdtempSync(path.join(tmpdir(), 'inferq-bench-models-'));
  const version = '1.0.0';
  const folder = path.join(root, tinyModelName, version);
  mkdirSync(folder, { recursive: true });

  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [tinyModelSide, tinyModelSide, 1] }),
      tf.layers.dense({
        units: 4,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }),
      }),
    ],
  });
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  if (!artifacts?.weightData || !artifacts.weightSpecs) throw new Error('tfjs saved no weights');
  const weights = Buffer.from(artifacts.weightData as ArrayBuffer);
  writeFileSync(path.join(folder, 'weights.bin'), weights);
  writeFileSync(
    path.join(folder, 'model.json'),
    JSON.stringify({
      format: 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
    }),
  );
  const manifest: ModelManifestInput = {
    name: tinyModelName,
    version,
    format: 'layers',
    input: {
      width: tinyModelSide,
      height: tinyModelSide,
      channels: 1,
      resize: 'fill',
      resizeKernel: 'nearest',
      scale: { mode: 'divide', divisor: 255 },
    },
    output: { kind: 'classification', labels: ['a', 'b', 'c', 'd'], activation: 'softmax' },
    sha256: await computeModelHash(folder),
    createdAt: new Date().toISOString(),
    source: 'bench: one Dense layer, random weights',
  };
  writeFileSync(path.join(folder, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await new ModelRegistry({ root }).setLive(tinyModelName, version);
  return root;
}
