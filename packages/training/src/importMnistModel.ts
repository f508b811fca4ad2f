import path from 'node:path';
import { onnxFileForLayers } from '@inferq/inference';
import { ModelRegistry, readModelFiles, readModelManifest, type PublishResult } from '@inferq/models';
import { mnistModelName } from './mnistManifest.ts';

/** The trained MNIST classifier committed with the repository (about 400 KB), version 1.0.0. */
export const mnistFixtureFolder = path.resolve(import.meta.dirname, '../fixtures/mnist/1.0.0');

export interface ImportMnistModelOptions {
  /** The registry root to write into. */
  outDir: string;
  /**
   * Make it live when the model has no live version yet; a re-run never moves LIVE away from a
   * version someone chose. @defaultValue true
   */
  setLive?: boolean;
}

/**
 * Publishes the committed MNIST model into a registry. It was produced by
 * `pnpm train mnist --epochs 5 --export 1.0.0` (seed 42, 20000 examples, wasm backend) and is
 * committed rather than trained at install: a fresh clone gets the same bytes and hash at once,
 * with no minute of training in every install and CI run. Safe to re-run (`unchanged`). The ONNX
 * copy is converted at import, reproducibly (same bytes every run).
 */
export async function importMnistModel(options: ImportMnistModelOptions): Promise<PublishResult> {
  const registry = new ModelRegistry({ root: options.outDir });
  const manifest = await readModelManifest(mnistFixtureFolder);
  const hasLive = await registry.resolve(mnistModelName).then(
    () => true,
    () => false,
  );
  const { name: _name, version, sha256: _sha256, onnx: _onnx, ...rest } = manifest;
  const files = await readModelFiles(mnistFixtureFolder);
  return registry.publish({
    name: mnistModelName,
    version,
    // With its ONNX copy, converted from the same weights here (ONNX Runtime serves it).
    files: [
      ...files,
      onnxFileForLayers(files, {
        docString: 'mnist 1.0.0, converted from the TF.js Layers model by inferq layersToOnnx',
      }),
    ],
    manifest: rest,
    setLive: (options.setLive ?? true) && !hasLive,
  });
}
