import { AppError } from '@inferq/core';
import type { ModelManifest } from '@inferq/models';

/** What a load check did: the engine it ran the model on, or why it was skipped. */
export type LoadCheckResult = { checked: true; engine: string; ms: number } | { checked: false; reason: string };

/**
 * Loads a version about to be published the way a worker does, and runs one input of zeros
 * through it, so a version no worker can load (model.onnx without its `model.onnx.data`, an
 * operator ONNX Runtime lacks, an output the manifest does not describe) is refused at publish,
 * not found by the workers once it is live. Runs where the model has an ONNX file (ONNX Runtime,
 * CPU, one thread); TF.js files are checked for completeness by the registry, and a SavedModel by
 * tfjs-node on the workers. Throws MODEL_NOT_READY with the loader's `details.reason`.
 */
export async function checkModelLoads(folder: string, manifest: ModelManifest): Promise<LoadCheckResult> {
  if (manifest.format !== 'onnx' && manifest.onnx === undefined)
    return { checked: false, reason: `a ${manifest.format} model is loaded by the workers only` };
  // Imported here: TF.js and ONNX Runtime are heavy, and only this command needs them.
  const inference = await import('@inferq/inference');
  const silent = { info: () => {}, warn: () => {} };
  const onnx = await inference
    .startOnnxRuntime({ preferred: 'cpu', intraOpThreads: 1, logger: silent })
    .catch(() => null);
  if (onnx === null) return { checked: false, reason: 'onnxruntime-node cannot start here' };
  const started = performance.now();
  let served: Awaited<ReturnType<typeof inference.loadOnnxModel>> | undefined;
  try {
    served = await inference.loadOnnxModel(folder, manifest, { engines: { tfjs: null, onnx }, verifyHash: true });
    await served.warmUp([1]);
  } catch (error) {
    served?.dispose();
    const reason = error instanceof AppError ? error.details : undefined;
    throw new AppError(
      'MODEL_NOT_READY',
      `the load check failed, so ${manifest.name}@${manifest.version} was not published: ${(error as Error).message.replaceAll(folder, '<version folder>')}`,
      {
        details: {
          ...(typeof reason === 'object' && reason !== null ? reason : {}),
          location: undefined,
          check: 'load',
        },
        cause: error,
      },
    );
  }
  const engine = served.engine;
  served.dispose();
  return { checked: true, engine, ms: Math.round(performance.now() - started) };
}
