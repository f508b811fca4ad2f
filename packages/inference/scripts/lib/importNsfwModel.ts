import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { AppError } from '@inferq/core';
import { onnxFileForLayers } from '../../src/layersToOnnx.ts';
import {
  computeModelHash,
  hashModelFiles,
  manifestFileName,
  modelJsonFileName,
  ModelRegistry,
  modelManifestSchema,
  readModelManifest,
  type ModelFile,
  type ModelManifest,
  type ModelManifestInput,
} from '@inferq/models';

/**
 * Imports the pretrained NSFW classifier that ships inside the `nsfwjs` npm package (MIT,
 * MobileNetV2, 224×224 RGB in [0, 1], five classes) into a model registry folder:
 *
 *     <outDir>/nsfw/<version>/model.json
 *     <outDir>/nsfw/<version>/group1-shard1of1.bin
 *     <outDir>/nsfw/<version>/model.onnx       the same weights for ONNX Runtime (layersToOnnx)
 *     <outDir>/nsfw/<version>/manifest.json
 *     <outDir>/nsfw/LIVE
 *
 * nsfwjs bundles model.json and base64 weight shards as CommonJS modules under
 * dist/models/mobilenet_v2/; its own loader decodes the base64 with a per-byte loop (seconds),
 * here Buffer.from does it in milliseconds. Only its model modules are imported, never its
 * tfjs code.
 */
export const nsfwModelName = 'nsfw';

/**
 * Output order of the network, from nsfwjs's src/nsfw_classes.ts (index → class name). The
 * final layer is a 5-unit Dense with softmax, so the output is already probabilities.
 */
export const nsfwLabels = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'] as const;

export interface ImportNsfwModelOptions {
  /** The registry root to write into. */
  outDir: string;
  /** Model version folder name. @defaultValue the installed nsfwjs version, e.g. `4.4.0` */
  version?: string;
  /**
   * Make this version live: always after a fresh write, and on a re-run only when the model has no
   * LIVE file yet (a re-run never moves LIVE away from a version someone chose).
   * @defaultValue true
   */
  setLive?: boolean;
  /** Replace an existing version folder whose files differ. @defaultValue false */
  force?: boolean;
}

export interface ImportNsfwModelResult {
  /**
   * `written`: new files; `unchanged`: the version folder already held these exact files and
   * manifest; `updated`: same files, manifest.json rewritten (an older importer wrote it).
   */
  status: 'written' | 'updated' | 'unchanged';
  name: string;
  version: string;
  location: string;
  sha256: string;
  live: boolean;
}

interface NsfwjsModelModule {
  MobileNetV2Model: {
    numOfWeightBundles: number;
    modelJson: () => Promise<{ default: unknown }>;
    weightBundles: Array<() => Promise<{ default: unknown }>>;
  };
}

export async function importNsfwModel(options: ImportNsfwModelOptions): Promise<ImportNsfwModelResult> {
  const nsfwjsVersion = await installedNsfwjsVersion();
  const version = options.version ?? nsfwjsVersion;
  const files = await nsfwModelFiles();
  const sha256 = hashModelFiles(files);
  // The same weights for ONNX Runtime, converted here: the same bytes on every run.
  const onnxFile = onnxFileForLayers(files, {
    docString: `nsfwjs@${nsfwjsVersion} MobileNetV2, converted from the TF.js Layers model by inferq layersToOnnx`,
  });
  const registry = new ModelRegistry({ root: options.outDir });
  const location = registry.versionFolder(nsfwModelName, version);
  const modelFolder = registry.modelFolder(nsfwModelName);
  const liveFile = path.join(modelFolder, 'LIVE');

  const manifest: ModelManifestInput = {
    name: nsfwModelName,
    version,
    format: 'layers',
    // nsfwjs's classify(): the full-size decode / 255, stretched with tf.image.resizeBilinear
    // (alignCorners = true) in floats. `alignCorners` is that resize; sharp's kernels move the
    // scores by up to 0.37 on real photos (see the package README).
    input: {
      width: 224,
      height: 224,
      channels: 3,
      resize: 'fill',
      resizeKernel: 'alignCorners',
      scale: { mode: 'divide', divisor: 255 },
      channelOrder: 'rgb',
    },
    output: { kind: 'classification', labels: [...nsfwLabels], activation: 'softmax' },
    sha256,
    onnx: { sha256: hashModelFiles([onnxFile]) },
    createdAt: new Date().toISOString(),
    source: `nsfwjs@${nsfwjsVersion} MobileNetV2 (MIT, https://github.com/infinitered/nsfwjs)`,
  };
  modelManifestSchema.parse(manifest);

  const existing = await existingManifest(location, sha256);
  if (existing !== null) {
    // Same weights. A manifest written by an older importer (other preprocessing, say) is
    // replaced; the weights and their createdAt stay.
    let status: ImportNsfwModelResult['status'] = 'unchanged';
    const current = { ...manifest, createdAt: existing.createdAt };
    if (!isDeepStrictEqual(modelManifestSchema.parse(current), existing)) {
      if (existing.onnx?.sha256 !== manifest.onnx?.sha256)
        await writeFileAtomic(path.join(location, onnxFile.path), onnxFile.bytes);
      await writeFileAtomic(path.join(location, manifestFileName), `${JSON.stringify(current, null, 2)}\n`);
      status = 'updated';
    }
    let live = false;
    if ((options.setLive ?? true) && !(await exists(liveFile))) {
      await registry.setLive(nsfwModelName, version);
      live = true;
    }
    const resolved = await registry.resolve(nsfwModelName).catch(() => null);
    return { status, name: nsfwModelName, version, location, sha256, live: live || resolved?.version === version };
  }
  if ((await exists(location)) && !options.force) {
    throw new AppError(
      'CONFLICT',
      `${location} already holds different model files; model versions are immutable (pass force to replace it)`,
      {
        details: { location },
      },
    );
  }

  // Write beside the target under a dot-name (the registry skips it), then rename into place, so
  // a reader never sees half a version.
  await mkdir(modelFolder, { recursive: true });
  const temp = path.join(modelFolder, `.${version}.${randomBytes(4).toString('hex')}.tmp`);
  await mkdir(temp);
  try {
    for (const file of [...files, onnxFile]) await writeFile(path.join(temp, file.path), file.bytes);
    await writeFile(path.join(temp, manifestFileName), `${JSON.stringify(manifest, null, 2)}\n`);
    if ((await computeModelHash(temp)) !== sha256) throw new Error(`files written to ${temp} do not hash to ${sha256}`);
    if (await exists(location)) {
      const old = `${temp}.old`;
      await rename(location, old);
      await rename(temp, location);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(temp, location);
    }
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
  const live = options.setLive ?? true;
  if (live) await registry.setLive(nsfwModelName, version);
  return { status: 'written', name: nsfwModelName, version, location, sha256, live };
}

/**
 * model.json (weight paths renamed to `<shard>.bin`) and the decoded shards, as the registry
 * stores them.
 */
export async function nsfwModelFiles(): Promise<ModelFile[]> {
  const { MobileNetV2Model: model } = (await import('nsfwjs/models/mobilenet_v2')) as unknown as NsfwjsModelModule;
  const modelJson = structuredClone((await model.modelJson()).default) as {
    format?: string;
    modelTopology?: unknown;
    weightsManifest?: Array<{ paths: string[]; weights: unknown[] }>;
  };
  if (typeof modelJson.modelTopology !== 'object' || !Array.isArray(modelJson.weightsManifest)) {
    throw new Error('nsfwjs MobileNetV2 model.json has an unexpected shape');
  }
  // nsfwjs names shards `group1-shard1of1` and bundles them in order; its loader maps the bundle
  // at index i to `group1-shard{i+1}of{n}`.
  const shardNames = Array.from(
    { length: model.numOfWeightBundles },
    (_, i) => `group1-shard${i + 1}of${model.numOfWeightBundles}`,
  );
  const shards = new Map<string, Uint8Array>();
  for (const [i, load] of model.weightBundles.entries()) {
    const base64 = (await load()).default;
    if (typeof base64 !== 'string') throw new Error(`nsfwjs weight bundle ${i} is not a base64 string`);
    shards.set(shardNames[i] as string, Buffer.from(base64, 'base64'));
  }
  const files: ModelFile[] = [];
  for (const group of modelJson.weightsManifest) {
    group.paths = group.paths.map((p) => {
      const bytes = shards.get(p);
      if (bytes === undefined) throw new Error(`nsfwjs model.json names shard ${p}, which nsfwjs does not bundle`);
      files.push({ path: `${p}.bin`, bytes });
      return `${p}.bin`;
    });
  }
  modelJson.format ??= 'layers-model';
  return [{ path: modelJsonFileName, bytes: Buffer.from(JSON.stringify(modelJson)) }, ...files];
}

/** The version field of the installed nsfwjs package.json. */
export async function installedNsfwjsVersion(): Promise<string> {
  // nsfwjs's exports map hides package.json; its ESM entry is <root>/dist/esm/index.js.
  const entry = fileURLToPath(import.meta.resolve('nsfwjs'));
  const packageJson = JSON.parse(await readFile(path.resolve(path.dirname(entry), '../../package.json'), 'utf8')) as {
    name?: string;
    version?: string;
  };
  if (packageJson.name !== 'nsfwjs' || typeof packageJson.version !== 'string')
    throw new Error(`cannot read the nsfwjs version beside ${entry}`);
  return packageJson.version;
}

/** The manifest of `location` when its model files hash to `sha256`, else null. */
async function existingManifest(location: string, sha256: string): Promise<ModelManifest | null> {
  try {
    const manifest = await readModelManifest(location);
    return manifest.sha256 === sha256 && (await computeModelHash(location)) === sha256 ? manifest : null;
  } catch {
    return null;
  }
}

async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const temp = `${path.join(path.dirname(file), `.${path.basename(file)}`)}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, content);
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
