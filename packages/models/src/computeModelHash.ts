import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { modelJsonFileName, onnxFileName, savedModelFileName, type ModelFormat } from './modelManifest.ts';
import { modelNotReady, type ModelProblem } from './modelNotReady.ts';
import { inspectOnnxModel } from './inspectOnnxModel.ts';

/** One file of a model version: its path relative to model.json's folder, and its bytes. */
export interface ModelFile {
  path: string;
  bytes: Uint8Array;
}

/**
 * The content hash of a model version: sha256 over model.json and then each weight shard in the
 * order model.json lists them, each file framed as `path \0 byteLength \0 bytes`. Files that
 * model.json does not name (manifest.json, notes) are not part of the hash.
 */
export function hashModelFiles(files: readonly ModelFile[]): string {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${file.path}\0${file.bytes.byteLength}\0`);
    hash.update(file.bytes);
  }
  return hash.digest('hex');
}

/**
 * The weight shard paths model.json names, in order. Throws MODEL_NOT_READY when model.json is not
 * a JSON object, its weightsManifest has the wrong shape, or a path could leave the model's folder.
 */
export function weightPathsOf(modelJson: unknown, location = modelJsonFileName): string[] {
  if (typeof modelJson !== 'object' || modelJson === null || Array.isArray(modelJson)) {
    throw modelNotReady(location, 'invalid-model-json', 'model.json is not a JSON object');
  }
  const manifest = (modelJson as { weightsManifest?: unknown }).weightsManifest;
  if (manifest === undefined) return [];
  if (!Array.isArray(manifest)) throw modelNotReady(location, 'invalid-model-json', 'model.json weightsManifest is not an array');
  const paths: string[] = [];
  for (const group of manifest as unknown[]) {
    const groupPaths = (group as { paths?: unknown } | null)?.paths;
    if (!Array.isArray(groupPaths) || !groupPaths.every((p) => typeof p === 'string')) {
      throw modelNotReady(location, 'invalid-model-json', 'model.json weightsManifest group has no string paths');
    }
    for (const p of groupPaths as string[]) {
      if (!isSafeWeightPath(p)) throw modelNotReady(location, 'invalid-model-json', `weight path "${p}" must stay inside the model folder`);
      paths.push(p);
    }
  }
  return paths;
}

/**
 * A relative path with no `..`, no scheme, no backslash: it cannot point outside its folder.
 * No control characters (a NUL ends a path in the OS), and no `%`, `?` or `#`, which would make
 * the shard's URL (resolved against model.json's) differ from its file name (`%2e%2e` is `..`).
 */
export function isSafeWeightPath(p: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (p.length === 0 || p.length > 512 || p.startsWith('/') || /[\\:%?#\u0000-\u001f\u007f]/.test(p)) return false;
  return p.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/**
 * {@link hashModelFiles} over files on disk, read as streams: publishing a large model never
 * holds it in memory. `paths` are relative to `folder`, in hash order.
 */
export async function hashModelFolder(folder: string, paths: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of paths) {
    const full = path.join(folder, ...file.split('/'));
    const { size } = await stat(full);
    hash.update(`${file}\0${size}\0`);
    for await (const chunk of createReadStream(full)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/**
 * Reads a version's model files from `folder` and returns their content hash: model.json and its
 * shards for TF.js formats, every file of the SavedModel (sorted by path) for `saved_model`.
 */
export async function computeModelHash(folder: string, format: ModelFormat = 'layers'): Promise<string> {
  return hashModelFiles(await readVersionFiles(folder, format));
}

/**
 * The files that make up a model version of `format` in `folder` (the manifest not included;
 * for TF.js formats, not the optional model.onnx either: see {@link readOnnxFile}).
 */
export async function readVersionFiles(folder: string, format: ModelFormat): Promise<ModelFile[]> {
  if (format === 'onnx') return readOnnxFiles(folder);
  return format === 'saved_model' ? readSavedModelFiles(folder) : readModelFiles(folder);
}

/** model.onnx of a version folder. Throws MODEL_NOT_READY `missing-model-json` without it. */
export async function readOnnxFile(folder: string): Promise<ModelFile> {
  return { path: onnxFileName, bytes: await readOrThrow(path.join(folder, onnxFileName), 'missing-model-json') };
}

/**
 * model.onnx of a version folder and then the external data files it names (`model.onnx.data`,
 * as torch.onnx.export writes beside it), in hash order. Throws MODEL_NOT_READY
 * `missing-model-json` without model.onnx, `missing-weights` when a named file is missing or
 * shorter than its tensors need, `invalid-model-json` when a location could leave the folder.
 */
export async function readOnnxFiles(folder: string): Promise<ModelFile[]> {
  const model = await readOnnxFile(folder);
  const files = [model];
  for (const { path: location, minBytes } of onnxExternalDataFiles(model.bytes, folder)) {
    const bytes = await readFile(path.join(folder, ...location.split('/'))).catch((error: NodeJS.ErrnoException) => {
      throw modelNotReady(
        folder,
        'missing-weights',
        `model.onnx keeps its weights in ${location}, which cannot be read in ${folder} (${error.code ?? error.message}): keep the two files together, or export one file (torch.onnx.export(..., external_data=False))`,
        { cause: error },
      );
    });
    if (bytes.byteLength < minBytes) throw modelNotReady(folder, 'missing-weights', `${location} holds ${bytes.byteLength} bytes; model.onnx reads up to byte ${minBytes} of it`);
    files.push({ path: location, bytes });
  }
  return files;
}

/**
 * The external data files an ONNX model names, each checked to be a safe relative path other than
 * model.onnx and manifest.json. Bytes that are not a readable ONNX model name none (the model check
 * says why they are not a model). Throws MODEL_NOT_READY `invalid-model-json` for a bad location.
 */
export function onnxExternalDataFiles(bytes: Uint8Array, location = onnxFileName): Array<{ path: string; minBytes: number }> {
  let files;
  try {
    files = inspectOnnxModel(bytes).externalData;
  } catch {
    return [];
  }
  for (const file of files) {
    if (!isSafeWeightPath(file.path) || file.path === onnxFileName || file.path === 'manifest.json') {
      throw modelNotReady(location, 'invalid-model-json', `model.onnx names the external data file ${JSON.stringify(file.path.slice(0, 200))}, which is not a file beside it`);
    }
  }
  return files;
}

/**
 * saved_model.pb and everything under variables/ and assets/, sorted by path: the files
 * `tf.node.loadSavedModel` reads. Throws MODEL_NOT_READY `missing-model-json` without
 * saved_model.pb.
 */
export async function readSavedModelFiles(folder: string): Promise<ModelFile[]> {
  const files: ModelFile[] = [{ path: savedModelFileName, bytes: await readOrThrow(path.join(folder, savedModelFileName), 'missing-model-json') }];
  for (const file of (await savedModelPaths(folder)).slice(1)) files.push({ path: file, bytes: await readOrThrow(path.join(folder, file), 'missing-weights') });
  return files;
}

/** saved_model.pb, then every file under variables/ and assets/ sorted by path: a SavedModel's hash order. */
export async function savedModelPaths(folder: string): Promise<string[]> {
  const rest: string[] = [];
  for (const sub of ['variables', 'assets']) {
    const entries = await readdir(path.join(folder, sub), { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    for (const entry of entries) if (entry.isFile()) rest.push(path.relative(folder, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
  }
  rest.sort();
  return [savedModelFileName, ...rest];
}

/** model.json followed by its weight shards, read from a model version folder. */
export async function readModelFiles(folder: string): Promise<ModelFile[]> {
  const modelJsonPath = path.join(folder, modelJsonFileName);
  const modelJsonBytes = await readOrThrow(modelJsonPath, 'missing-model-json');
  let modelJson: unknown;
  try {
    modelJson = JSON.parse(Buffer.from(modelJsonBytes.buffer, modelJsonBytes.byteOffset, modelJsonBytes.byteLength).toString('utf8'));
  } catch (error) {
    throw modelNotReady(modelJsonPath, 'invalid-model-json', `model.json is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const files: ModelFile[] = [{ path: modelJsonFileName, bytes: modelJsonBytes }];
  for (const weightPath of weightPathsOf(modelJson, modelJsonPath)) {
    files.push({ path: weightPath, bytes: await readOrThrow(path.join(folder, weightPath), 'missing-weights') });
  }
  return files;
}

async function readOrThrow(file: string, reason: ModelProblem): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw modelNotReady(file, reason, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}
