import { createRequire } from 'node:module';

/**
 * Whether this installation could load a SavedModel: only @tensorflow/tfjs-node(-gpu) can, and
 * they are installed into this package where an image needs them (docs/models/engines.md). Loads no
 * TensorFlow, so the admin CLI can ask (import `@inferq/inference/savedModelSupport`).
 */
export function savedModelsSupported(): boolean {
  const require = createRequire(import.meta.url);
  for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(name, { paths: [process.cwd(), import.meta.dirname] });
      return true;
    } catch {
      // not installed here
    }
  }
  return false;
}
