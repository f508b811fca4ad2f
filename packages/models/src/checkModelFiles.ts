import { AppError } from '@inferq/core';
import { isSafeWeightPath } from './computeModelHash.ts';
import type { ModelFormat } from './modelManifest.ts';

/**
 * What makes a set of files a model the platform will register: checked before a version is
 * published, whoever publishes it (the admin route, the admin CLI, an import script), so an
 * arbitrary JSON document or an internal page can never be registered and then served as a
 * "model file".
 *
 * TF.js (`layers`, `graph`): model.json is an object with a `modelTopology` object and a
 * non-empty `weightsManifest`; every group names its shards by safe, distinct relative paths (no
 * path is a folder of another) and lists its weights (name, shape, dtype); the shards of each
 * group hold exactly the bytes those weights need. Other formats are checked by their own hook
 * in {@link checkModelFiles} (ONNX files: `inspectOnnxModel`, called by ModelRegistry.publishFolder).
 */

export type ModelFileProblem = 'not_a_model' | 'invalid_path' | 'weights_mismatch';

function invalid(problem: ModelFileProblem, message: string, extra: Record<string, unknown> = {}): AppError {
  return new AppError('VALIDATION_FAILED', message, { details: { field: 'files', reason: problem, ...extra } });
}

/** Bytes per value of the TF.js weight dtypes and quantization dtypes. `string` has no fixed size. */
const dtypeBytes: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2, int8: 1, int16: 2 };

export interface WeightGroup {
  paths: string[];
  /** Bytes the group's weights need; null when one is a `string` tensor (no fixed size). */
  expectedBytes: number | null;
}

/**
 * Checks that shard paths are safe relative paths, distinct, and that none is the folder of
 * another (`a` and `a/b` cannot both be files). Throws VALIDATION_FAILED `invalid_path`.
 */
export function checkWeightPaths(paths: readonly string[]): void {
  const seen = new Set<string>();
  for (const p of paths) {
    if (!isSafeWeightPath(p)) throw invalid('invalid_path', `weight path ${JSON.stringify(p.slice(0, 200))} is not allowed`);
    if (seen.has(p)) throw invalid('invalid_path', `weight path ${JSON.stringify(p.slice(0, 200))} is listed twice`);
    seen.add(p);
  }
  for (const p of paths) {
    const segments = p.split('/');
    for (let i = 1; i < segments.length; i++) {
      const folder = segments.slice(0, i).join('/');
      if (seen.has(folder)) throw invalid('invalid_path', `weight path "${folder}" is also a folder of "${p.slice(0, 200)}"`);
    }
  }
}

/**
 * The weight groups of a TF.js model.json, checked for shape (see the module comment). Throws
 * VALIDATION_FAILED `not_a_model` or `invalid_path`.
 */
export function tfjsWeightGroups(modelJson: unknown, format: 'layers' | 'graph'): WeightGroup[] {
  if (typeof modelJson !== 'object' || modelJson === null || Array.isArray(modelJson)) throw invalid('not_a_model', 'model.json is not a JSON object');
  const { modelTopology, weightsManifest, format: declared } = modelJson as Record<string, unknown>;
  if (typeof modelTopology !== 'object' || modelTopology === null || Array.isArray(modelTopology)) {
    throw invalid('not_a_model', 'model.json has no modelTopology object: it is not a TF.js model');
  }
  if (declared !== undefined && (typeof declared !== 'string' || !declared.startsWith(format))) {
    throw new AppError('VALIDATION_FAILED', `model.json is a ${String(declared).slice(0, 40)}, the manifest says ${format}`, { details: { field: 'format' } });
  }
  if (!Array.isArray(weightsManifest) || weightsManifest.length === 0) throw invalid('not_a_model', 'model.json has no weightsManifest: it is not a TF.js model');
  const groups: WeightGroup[] = [];
  for (const group of weightsManifest as unknown[]) {
    const { paths, weights } = (group ?? {}) as { paths?: unknown; weights?: unknown };
    if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string')) throw invalid('not_a_model', 'a weightsManifest group has no shard paths');
    if (!Array.isArray(weights)) throw invalid('not_a_model', 'a weightsManifest group has no weights list');
    let expected: number | null = 0;
    for (const weight of weights as unknown[]) {
      const { name, shape, dtype, quantization } = (weight ?? {}) as { name?: unknown; shape?: unknown; dtype?: unknown; quantization?: { dtype?: unknown } };
      if (typeof name !== 'string' || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0) || typeof dtype !== 'string') {
        throw invalid('not_a_model', 'a weight in weightsManifest lacks a name, an integer shape or a dtype');
      }
      const stored = typeof quantization?.dtype === 'string' ? quantization.dtype : dtype;
      if (stored === 'string') {
        expected = null;
        continue;
      }
      // Own keys only: a dtype named `constructor` must not find Object's.
      const size = Object.hasOwn(dtypeBytes, stored) ? dtypeBytes[stored] : undefined;
      if (size === undefined) throw invalid('not_a_model', `weight dtype "${stored.slice(0, 20)}" is not a TF.js dtype`);
      if (expected !== null) expected += (shape as number[]).reduce((product, d) => product * d, 1) * size;
    }
    groups.push({ paths: paths as string[], expectedBytes: expected });
  }
  checkWeightPaths(groups.flatMap((group) => group.paths));
  return groups;
}

/** Checks that each group's shards (sizes from `sizeOf`) hold the bytes its weights need. */
export function checkShardSizes(groups: readonly WeightGroup[], sizeOf: (path: string) => number): void {
  for (const group of groups) {
    if (group.expectedBytes === null) continue;
    const actual = group.paths.reduce((sum, p) => sum + sizeOf(p), 0);
    if (actual !== group.expectedBytes) {
      throw invalid('weights_mismatch', `the shards ${group.paths.slice(0, 3).join(', ')} hold ${actual} bytes; their weights need ${group.expectedBytes}`, {
        bytes: actual,
        expectedBytes: group.expectedBytes,
      });
    }
  }
}

/**
 * The one check a version's files pass before publishing, by format. `readJson` gives model.json
 * parsed; `sizeOf` a file's size in bytes. A new format (ONNX) adds its branch here.
 */
export function checkModelFiles(format: ModelFormat, modelJson: unknown, sizeOf: (path: string) => number): string[] {
  // A SavedModel is checked by tfjs-node when it loads; an ONNX file by inspectOnnxModel at publish.
  if (format === 'saved_model' || format === 'onnx') return [];
  const groups = tfjsWeightGroups(modelJson, format);
  checkShardSizes(groups, sizeOf);
  return groups.flatMap((group) => group.paths);
}
