import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError, trafficSplitSchema, type TrafficSplit } from '@inferq/core';
import { compareVersions, highestVersion } from './compareVersions.ts';
import { checkModelFiles, checkWeightPaths, tfjsWeightGroups } from './checkModelFiles.ts';
import { hashModelFiles, hashModelFolder, onnxExternalDataFiles, savedModelPaths, type ModelFile } from './computeModelHash.ts';
import { inspectOnnxModel, onnxInputMismatch, onnxSignatureMismatch } from './inspectOnnxModel.ts';
import {
  imageInputOf,
  isTensorManifest,
  manifestFileName,
  modelJsonFileName,
  modelManifestSchema,
  modelNamePattern,
  modelVersionPattern,
  onnxFileName,
  savedModelFileName,
  type ModelManifest,
  type ModelManifestInput,
} from './modelManifest.ts';
import { modelNotReady, modelProblemOf, type ModelProblem } from './modelNotReady.ts';
import { readModelManifest, type ModelLocation } from './readModelManifest.ts';

/**
 * The model registry is a folder:
 *
 *     <root>/<name>/<version>/model.json, *.bin, manifest.json   (TF.js; model.onnx may sit beside)
 *     <root>/<name>/<version>/model.onnx, manifest.json          (format onnx; its external data
 *                                                                 files, e.g. model.onnx.data, beside it)
 *     <root>/<name>/LIVE        one line: the live version; absent → the highest version is live
 *     <root>/<name>/TRAFFIC.json   a traffic split over versions (see rolloutWire); absent → none.
 *                               Making a version live removes it.
 *
 * A version folder is immutable once written; publish a new one by writing it under a dot-name
 * (`.<version>.tmp`, which the registry skips) and renaming it into place. Models served from
 * another host can be added by URL (`remote`); the manifest.json beside that model.json names the
 * version.
 */
export const liveFileName = 'LIVE';
export const trafficFileName = 'TRAFFIC.json';

export interface ModelRegistryOptions {
  /** The folder holding one folder per model name. */
  root: string;
  /**
   * Models whose files live on an http(s) host: model name → URL of its model.json. A remote
   * model has one version, the one its manifest.json names, and it shadows a local folder of the
   * same name.
   * @defaultValue {}
   */
  remote?: Record<string, string>;
  /** Bound on fetching a remote manifest. @defaultValue 10000 */
  fetchTimeoutMs?: number;
}

/** One version of a model that can be served. */
export interface ModelVersionEntry {
  version: string;
  manifest: ModelManifest;
  /** The version's folder, or the URL of its model.json for a remote model. */
  location: ModelLocation;
}

/** A version folder that exists but cannot be served, and why. */
export interface ModelVersionProblem {
  version: string;
  reason: ModelProblem;
  message: string;
}

export interface ModelEntry {
  name: string;
  /** null when no version can be served, or LIVE names one that cannot. */
  liveVersion: string | null;
  /** Servable versions, lowest first. */
  versions: ModelVersionEntry[];
  problems: ModelVersionProblem[];
  remote: boolean;
}

export interface ResolvedModel {
  name: string;
  version: string;
  manifest: ModelManifest;
  location: ModelLocation;
  /** Whether this is the version a request without a version gets. */
  live: boolean;
}

/** What `publish` needs beyond the files: the manifest less what publishing fills in. */
export type PublishManifest = Omit<ModelManifestInput, 'name' | 'version' | 'sha256' | 'createdAt'> & { createdAt?: string };

export interface PublishOptions {
  name: string;
  version: string;
  /**
   * model.json first, then its shards (TF.js formats); or saved_model.pb and variables/…; or
   * model.onnx and then the external data files it names.
   */
  files: ModelFile[];
  manifest: PublishManifest;
  /** Make the new version live once it is in place. @defaultValue false */
  setLive?: boolean;
  /**
   * Runs on the complete version folder, manifest.json written, before the version is moved into
   * place: a load check (the admin CLI loads the model the way a worker does). Throwing keeps the
   * version out of the registry, so a version that cannot load is never published, live or not.
   * @defaultValue none
   */
  verify?: (folder: string, manifest: ModelManifest) => Promise<void>;
}

export interface PublishResult {
  /**
   * `written`: a new version folder; `unchanged`: the version already held exactly these files;
   * `updated`: it held these files, and the ONNX copy of them (model.onnx) was added beside them.
   */
  status: 'written' | 'unchanged' | 'updated';
  model: ResolvedModel;
}

export class ModelRegistry {
  readonly root: string;
  // A Map, not an object: names come from requests, and `constructor` must not find Object's.
  private readonly remote: ReadonlyMap<string, string>;
  private readonly fetchTimeoutMs: number;

  constructor(options: ModelRegistryOptions) {
    this.root = path.resolve(options.root);
    this.remote = new Map(Object.entries(options.remote ?? {}));
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? 10_000;
    for (const name of this.remote.keys()) {
      if (!modelNamePattern.test(name)) throw new AppError('VALIDATION_FAILED', `remote model name "${name}" is not a valid model name`);
    }
  }

  /** Every model under the root and every remote model, sorted by name. */
  async list(): Promise<ModelEntry[]> {
    const local = (await listDirectories(this.root)).filter((name) => modelNamePattern.test(name) && !this.remote.has(name));
    const entries = await Promise.all([...local.map((name) => this.describeLocal(name)), ...[...this.remote.keys()].map((name) => this.describeRemote(name))]);
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The names of every model under the root and every remote model, sorted; no manifest is read (cheap to poll). */
  async names(): Promise<string[]> {
    const local = (await listDirectories(this.root)).filter((name) => modelNamePattern.test(name) && !this.remote.has(name));
    return [...local, ...this.remote.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * The manifest and location of `name` at `version`, or at its live version when `version` is
   * left out. Throws MODEL_NOT_FOUND for an unknown name or version, MODEL_NOT_READY when it
   * exists but cannot be served.
   */
  async resolve(name: string, version?: string): Promise<ResolvedModel> {
    if (!modelNamePattern.test(name)) throw modelNotFound(name, version);
    if (version !== undefined && !modelVersionPattern.test(version)) throw modelNotFound(name, version);
    const remoteUrl = this.remote.get(name);
    if (remoteUrl !== undefined) {
      const manifest = await readModelManifest(remoteUrl, { fetchTimeoutMs: this.fetchTimeoutMs });
      if (manifest.name !== name) throw manifestMismatch(remoteUrl, `the manifest names model "${manifest.name}", expected "${name}"`);
      if (version !== undefined && version !== manifest.version) throw modelNotFound(name, version);
      return { name, version: manifest.version, manifest, location: remoteUrl, live: true };
    }

    const versions = await listDirectories(this.modelFolder(name));
    const servable = versions.filter((v) => modelVersionPattern.test(v));
    if (servable.length === 0) throw modelNotFound(name, version);
    // A broken LIVE blocks only requests for the live version, not requests naming a version.
    const live = version === undefined ? await this.readLive(name, servable) : await this.readLive(name, servable).catch(ignoreNotReady);
    const chosen = version ?? (live as string);
    if (!servable.includes(chosen)) throw modelNotFound(name, version);
    const location = path.join(this.modelFolder(name), chosen);
    const manifest = await readModelManifest(location);
    checkManifestNames(manifest, name, chosen, location);
    return { name, version: chosen, manifest, location, live: chosen === live };
  }

  /**
   * Makes `version` the live version of `name`. The version must resolve (valid manifest); LIVE is
   * replaced atomically (temp file, fsync, rename), so a reader sees the old or the new version.
   */
  async setLive(name: string, version: string): Promise<void> {
    if (this.remote.has(name)) throw new AppError('CONFLICT', `model "${name}" is remote; its live version is the one its URL serves`);
    await this.resolve(name, version);
    const folder = this.modelFolder(name);
    const target = path.join(folder, liveFileName);
    const temp = path.join(folder, `.${liveFileName}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(`${version}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    // One version live for everyone again: whatever split there was is over.
    await rm(path.join(folder, trafficFileName), { force: true });
  }

  /**
   * The traffic split of `name`, or null when it has none (or is remote). A file that does not
   * parse is taken as no split, so a bad file never blocks submits: jobs go to the live version.
   */
  async readTraffic(name: string): Promise<TrafficSplit | null> {
    if (this.remote.has(name) || !modelNamePattern.test(name)) return null;
    let text: string;
    try {
      text = await readFile(path.join(this.modelFolder(name), trafficFileName), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw error;
    }
    try {
      const parsed = trafficSplitSchema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /**
   * Stores (or with null removes) the traffic split of `name`, replacing TRAFFIC.json atomically.
   * Every version it names must resolve; MODEL_NOT_FOUND otherwise.
   */
  async setTraffic(name: string, traffic: TrafficSplit | null): Promise<void> {
    if (this.remote.has(name)) throw new AppError('CONFLICT', `model "${name}" is remote; it has one version and no traffic split`);
    const target = path.join(this.modelFolder(name), trafficFileName);
    if (traffic === null) {
      await rm(target, { force: true });
      return;
    }
    const parsed = trafficSplitSchema.parse(traffic);
    for (const version of new Set([...parsed.split.map((entry) => entry.version), ...(parsed.shadow ? [parsed.shadow] : []), parsed.baseline])) await this.resolve(name, version);
    await writeFileAtomic(target, `${JSON.stringify(parsed, null, 2)}\n`);
  }

  /**
   * Adds a version: writes the files and a manifest (sha256 and createdAt filled in) under a
   * dot-folder, checks them, and renames it into place, so readers never see half a version.
   * Versions are immutable: the same files again is `unchanged`, other files under an existing
   * version are CONFLICT. A bad name, version, file path, model or manifest is VALIDATION_FAILED.
   */
  async publish(options: PublishOptions): Promise<PublishResult> {
    const { name, version, files } = options;
    this.#checkPublishTarget(name, version);
    const format = options.manifest.format;
    const first = format === 'saved_model' ? savedModelFileName : format === 'onnx' ? onnxFileName : modelJsonFileName;
    if (files[0]?.path !== first) throw invalid(`a ${format} model starts with ${first}`, 'files');
    if (format === 'onnx') {
      const named = externalDataPaths((files[0] as ModelFile).bytes);
      const given = files.slice(1).map((file) => file.path);
      if (named.length !== given.length || named.some((p, i) => p !== given[i])) {
        throw invalid(`the files of an onnx version are model.onnx and exactly the external data files it names (${named.join(', ') || 'none'}), in its order`, 'files');
      }
    }
    checkWeightPaths(files.map((file) => file.path).filter((p) => p !== first));
    if (files.some((file) => file.path === manifestFileName)) throw invalid(`file path "${manifestFileName}" is not allowed`, 'files');
    const folder = await this.createStagingFolder();
    try {
      for (const file of files) {
        const target = path.join(folder, ...file.path.split('/'));
        await mkdir(path.dirname(target), { recursive: true });
        await writeFile(target, file.bytes);
      }
      if (format === 'layers' || format === 'graph') {
        const named = await this.#checkedFiles(folder, format);
        // A TF.js version may carry model.onnx beside its files: the same model for ONNX Runtime.
        const given = files.slice(1).map((file) => file.path).filter((p) => p !== onnxFileName);
        if (named.length !== given.length || named.some((p, i) => p !== given[i])) throw invalid('the files must be model.json and exactly the shards it names, in its order', 'files');
      }
      return await this.publishFolder({ ...options, folder });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }

  /**
   * A new empty folder under the registry root in which a version can be assembled before
   * {@link publishFolder}: dot-named, so the registry never lists it, and on the registry's file
   * system, so publishing is a rename. The caller removes it if it does not publish it.
   */
  async createStagingFolder(): Promise<string> {
    const staging = path.join(this.root, '.staging');
    await mkdir(staging, { recursive: true });
    return mkdtemp(path.join(staging, 'v-'));
  }

  /**
   * Publishes the version whose files are in `folder` (model.json and the shards it names, or a
   * SavedModel): checks it is a real model ({@link checkModelFiles}), hashes it from disk, writes
   * manifest.json and renames the folder into place. The folder is consumed: moved, or left for
   * the caller to remove.
   */
  async publishFolder(options: Omit<PublishOptions, 'files'> & { folder: string }): Promise<PublishResult> {
    const { name, version, folder } = options;
    this.#checkPublishTarget(name, version);
    const format = options.manifest.format;
    const required = format === 'saved_model' ? savedModelFileName : format === 'onnx' ? onnxFileName : null;
    if (required !== null && (await stat(path.join(folder, required)).catch(() => null)) === null) throw invalid(`a ${format} model starts with ${required}`, 'files');
    // The ONNX file: the model of an onnx version, or the optional copy beside a TF.js one.
    const onnxBytes = format === 'saved_model' ? null : await readFile(path.join(folder, onnxFileName)).catch(() => null);
    const externalData = onnxBytes ? await checkedExternalData(folder, onnxBytes, format) : [];
    const paths =
      format === 'saved_model' ? await savedModelPaths(folder) : format === 'onnx' ? [onnxFileName, ...externalData] : [modelJsonFileName, ...(await this.#checkedFiles(folder, format))];
    const sha256 = await hashModelFolder(folder, paths);
    const manifestInput = { ...options.manifest, name, version, sha256, createdAt: options.manifest.createdAt ?? new Date().toISOString() } as ModelManifestInput;
    if (onnxBytes && format !== 'onnx') manifestInput.onnx = { sha256: hashModelFiles([{ path: onnxFileName, bytes: onnxBytes }]) };
    else delete manifestInput.onnx;
    const parsed = modelManifestSchema.safeParse(manifestInput);
    if (!parsed.success) {
      throw new AppError('VALIDATION_FAILED', 'The model manifest is not valid.', {
        details: { issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) },
      });
    }
    if (onnxBytes) checkOnnxFile(onnxBytes, parsed.data);
    const location = this.versionFolder(name, version);
    const existing = await readModelManifest(location).catch(() => null);
    if (existing !== null || (await stat(location).catch(() => null)) !== null) {
      if (existing?.sha256 !== sha256) throw versionExists(name, version);
      let status: PublishResult['status'] = 'unchanged';
      if (onnxBytes && format !== 'onnx' && existing.onnx?.sha256 !== parsed.data.onnx?.sha256) {
        // The same TF.js files, now with their ONNX copy (a registry from before ONNX, or a
        // converter that changed): the derived file and the manifest naming it are replaced.
        const updated = { ...existing, onnx: parsed.data.onnx } as ModelManifest;
        if (options.verify) {
          await writeFile(path.join(folder, manifestFileName), `${JSON.stringify(updated, null, 2)}\n`);
          await options.verify(folder, updated);
        }
        await writeFileAtomic(path.join(location, onnxFileName), onnxBytes);
        await writeFileAtomic(path.join(location, manifestFileName), `${JSON.stringify(updated, null, 2)}\n`);
        status = 'updated';
      }
      if (options.setLive) await this.setLive(name, version);
      return { status, model: await this.resolve(name, version) };
    }
    await writeFile(path.join(folder, manifestFileName), `${JSON.stringify(parsed.data, null, 2)}\n`);
    if (options.verify) await options.verify(folder, parsed.data);
    await mkdir(this.modelFolder(name), { recursive: true });
    try {
      await rename(folder, location);
    } catch (error) {
      // Another publisher got there first: the version exists now.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw versionExists(name, version);
      throw error;
    }
    if (options.setLive) await this.setLive(name, version);
    return { status: 'written', model: await this.resolve(name, version) };
  }

  #checkPublishTarget(name: string, version: string): void {
    if (!modelNamePattern.test(name)) throw invalid(`"${name.slice(0, 100)}" is not a valid model name`, 'name');
    if (!modelVersionPattern.test(version)) throw invalid(`"${version.slice(0, 100)}" is not a valid version`, 'version');
    if (this.remote.has(name)) throw new AppError('CONFLICT', `model "${name}" is remote; publish its versions where its URL points`);
  }

  /** The shard paths of the TF.js model in `folder`, once it passed {@link checkModelFiles}. */
  async #checkedFiles(folder: string, format: 'layers' | 'graph'): Promise<string[]> {
    let modelJson: unknown;
    try {
      modelJson = JSON.parse(await readFile(path.join(folder, modelJsonFileName), 'utf8'));
    } catch {
      throw invalid('model.json is not valid JSON', 'files');
    }
    const groups = tfjsWeightGroups(modelJson, format);
    const sizes = new Map<string, number>();
    for (const p of groups.flatMap((group) => group.paths)) {
      const info = await stat(path.join(folder, ...p.split('/'))).catch(() => null);
      if (!info?.isFile()) throw new AppError('VALIDATION_FAILED', `the shard "${p}" that model.json names is missing`, { details: { field: 'files', reason: 'missing_shard' } });
      sizes.set(p, info.size);
    }
    return checkModelFiles(format, modelJson, (p) => sizes.get(p) ?? 0);
  }

  /** The folder of a local model, whether or not it exists. */
  modelFolder(name: string): string {
    if (!modelNamePattern.test(name)) throw modelNotFound(name);
    return path.join(this.root, name);
  }

  /** The folder of a local model version, whether or not it exists. */
  versionFolder(name: string, version: string): string {
    if (!modelVersionPattern.test(version)) throw modelNotFound(name, version);
    return path.join(this.modelFolder(name), version);
  }

  /** The live version: LIVE's content when present, else the highest version folder. */
  private async readLive(name: string, versions: string[]): Promise<string> {
    const file = path.join(this.modelFolder(name), liveFileName);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      return highestVersion(versions) as string;
    }
    const live = text.trim();
    if (!versions.includes(live)) throw modelNotReady(file, 'invalid-live', `${file} names version "${live}", which is not a version folder of ${name}`);
    return live;
  }

  private async describeLocal(name: string): Promise<ModelEntry> {
    const folders = (await listDirectories(this.modelFolder(name))).filter((v) => modelVersionPattern.test(v)).sort(compareVersions);
    const versions: ModelVersionEntry[] = [];
    const problems: ModelVersionProblem[] = [];
    for (const version of folders) {
      const location = path.join(this.modelFolder(name), version);
      try {
        const manifest = await readModelManifest(location);
        checkManifestNames(manifest, name, version, location);
        versions.push({ version, manifest, location });
      } catch (error) {
        const reason = modelProblemOf(error);
        if (reason === undefined) throw error;
        problems.push({ version, reason, message: (error as Error).message });
      }
    }
    let liveVersion: string | null = null;
    if (folders.length > 0) {
      try {
        liveVersion = await this.readLive(name, folders);
      } catch (error) {
        const reason = modelProblemOf(error);
        if (reason === undefined) throw error;
        problems.push({ version: liveFileName, reason, message: (error as Error).message });
      }
    }
    if (liveVersion !== null && !versions.some((v) => v.version === liveVersion)) liveVersion = null;
    return { name, liveVersion, versions, problems, remote: false };
  }

  private async describeRemote(name: string): Promise<ModelEntry> {
    try {
      const resolved = await this.resolve(name);
      const entry: ModelVersionEntry = { version: resolved.version, manifest: resolved.manifest, location: resolved.location };
      return { name, liveVersion: resolved.version, versions: [entry], problems: [], remote: true };
    } catch (error) {
      const reason = modelProblemOf(error);
      if (reason === undefined) throw error;
      return { name, liveVersion: null, versions: [], problems: [{ version: '', reason, message: (error as Error).message }], remote: true };
    }
  }
}

/**
 * Refuses (VALIDATION_FAILED) an ONNX file that is not a readable ONNX graph, or whose first
 * input cannot take the manifest's input. What only running it can tell (an operator ONNX
 * Runtime lacks) is a failed load on the workers, reported like any failed swap.
 */
function checkOnnxFile(bytes: Uint8Array, manifest: ModelManifest): void {
  let info;
  try {
    info = inspectOnnxModel(bytes);
  } catch (error) {
    throw invalid(`${onnxFileName}: ${(error as Error).message}`, 'files');
  }
  if (isTensorManifest(manifest)) {
    const mismatch = onnxSignatureMismatch(info, manifest);
    if (mismatch !== null) throw invalid(`${onnxFileName}: ${mismatch}`, 'inputs');
    return;
  }
  const mismatch = onnxInputMismatch(info, imageInputOf(manifest));
  if (mismatch !== null) throw invalid(`${onnxFileName}: ${mismatch}`, 'input');
}

/**
 * The external data files model.onnx names, each present in `folder` and long enough for its
 * tensors: publishing model.onnx without them would register a version no worker can load
 * (torch.onnx.export writes `model.onnx.data` beside `model.onnx` unless told
 * `external_data=False`). Only an onnx version may have them; the ONNX copy beside a TF.js
 * version is one file. Throws VALIDATION_FAILED `missing_external_data` or `invalid_path`.
 */
async function checkedExternalData(folder: string, onnxBytes: Uint8Array, format: string): Promise<string[]> {
  const files = externalDataFilesOrRefuse(onnxBytes);
  if (files.length === 0) return [];
  const names = files.map((file) => file.path).join(', ');
  if (format !== 'onnx') {
    throw new AppError('VALIDATION_FAILED', `the ${onnxFileName} beside a TF.js model keeps its weights in ${names}; that copy must be one file (export it with external_data=False)`, {
      details: { field: 'files', reason: 'missing_external_data', files: files.map((file) => file.path) },
    });
  }
  for (const file of files) {
    const info = await stat(path.join(folder, ...file.path.split('/'))).catch(() => null);
    if (!info?.isFile() || info.size < file.minBytes) {
      const found = info?.isFile() ? `holds ${info.size} bytes of the ${file.minBytes} its tensors need` : 'is not there';
      throw new AppError(
        'VALIDATION_FAILED',
        `${onnxFileName} keeps its weights in ${file.path}, which ${found}: publish the folder holding both, or export one file (torch.onnx.export(..., external_data=False))`,
        { details: { field: 'files', reason: 'missing_external_data', files: files.map((f) => f.path) } },
      );
    }
  }
  return files.map((file) => file.path);
}

/** {@link onnxExternalDataFiles}, a location that could leave the folder refused as VALIDATION_FAILED `invalid_path`. */
function externalDataFilesOrRefuse(onnxBytes: Uint8Array): Array<{ path: string; minBytes: number }> {
  try {
    return onnxExternalDataFiles(onnxBytes);
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', (error as Error).message, { details: { field: 'files', reason: 'invalid_path' } });
  }
}

function externalDataPaths(onnxBytes: Uint8Array): string[] {
  return externalDataFilesOrRefuse(onnxBytes).map((file) => file.path);
}

async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(temp, bytes);
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function invalid(message: string, field: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { details: { field } });
}

function versionExists(name: string, version: string): AppError {
  return new AppError('CONFLICT', `${name}@${version} already exists with other files; versions are immutable, publish a new one`, { details: { name, version } });
}

function ignoreNotReady(error: unknown): null {
  if (modelProblemOf(error) === undefined) throw error;
  return null;
}

function checkManifestNames(manifest: ModelManifest, name: string, version: string, location: string): void {
  if (manifest.name !== name || manifest.version !== version) {
    throw manifestMismatch(location, `the manifest says ${manifest.name}@${manifest.version}, the folder is ${name}/${version}`);
  }
}

function manifestMismatch(location: string, message: string): AppError {
  return modelNotReady(location, 'manifest-mismatch', message);
}

function modelNotFound(name: string, version?: string): AppError {
  const label = version === undefined ? `model "${name}"` : `model "${name}" version "${version}"`;
  return new AppError('MODEL_NOT_FOUND', `${label} does not exist`, { details: version === undefined ? { name } : { name, version } });
}

/** Names of the sub-folders of `folder`, skipping dot-folders (temp folders being written). */
async function listDirectories(folder: string): Promise<string[]> {
  try {
    const entries = await readdir(folder, { withFileTypes: true });
    const names: string[] = [];
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      // Version folders may be symlinks (a shared volume); follow them.
      if (entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path.join(folder, entry.name)).catch(() => null))?.isDirectory())) names.push(entry.name);
    }
    return names;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
}
