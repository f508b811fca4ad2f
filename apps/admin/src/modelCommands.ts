import { access, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AppError } from '@inferq/core';
import { savedModelsSupported } from '@inferq/inference/savedModelSupport';
import {
  addOnnxModel,
  downloadModel,
  inspectOnnxModel,
  manifestFileName,
  modelManifestFields,
  readModelManifest,
  onnxFileName,
  readOnnxFile,
  readVersionFiles,
  savedModelFileName,
  type ModelFile,
  type ModelFormat,
  type ModelManifest,
  type ModelRegistry,
  type PublishManifest,
} from '@inferq/models';
import type { CommandOutput } from './adminCommands.ts';
import { exitCodeForError, UsageError } from './commandErrors.ts';
import { checkModelLoads, type LoadCheckResult } from './modelLoadCheck.ts';

export const modelsUsage = `pnpm admin models: the model registry (the folder MODELS_DIR, shared with the API and workers; unset, the one \`pnpm start\` uses)

  models list                               models, versions (live marked *), test accuracy, problems
  models publish DIR --name N --version V [--manifest FILE] [--live]
                                            add a version from a folder: a TF.js model (model.json +
                                            shards, and model.onnx beside them if there is one), an
                                            ONNX model (model.onnx, format "onnx", with the external
                                            data files it names, e.g. model.onnx.data) or a TensorFlow
                                            SavedModel (saved_model.pb + variables/); the manifest
                                            (input, output, …) is DIR's manifest.json or FILE. A model
                                            with an ONNX file is loaded and run once first: one that
                                            cannot load is not published
  models publish --url URL --name N --version V --manifest FILE [--live]
                                            add a version from a TF.js model.json URL (shards beside it)
  models add FILE.onnx --name N [--version V] [--reader JSON] [--limits JSON]
                                            add an ONNX model as a tensor model: its inputs, outputs,
                                            datatypes and shapes are read from the file (a dynamic
                                            first dim is the batch axis), the manifest is written, the
                                            model is loaded and run once, and the version published;
                                            a new model's first version is made live. V defaults to
                                            the next whole number. --reader says how outputs are read:
                                            {"kind":"classification","labels":[…]}, {"kind":"embedding"},
                                            {"kind":"detection","boxes":…,"scores":…,"classes":…}, or raw
  models set-live NAME VERSION              make VERSION live; workers swap to it within seconds

  --json                                    print JSON`;

export interface ModelCommandOptions {
  /** Overrides the SavedModel check (tests). @defaultValue savedModelsSupported() */
  savedModelsSupported?: boolean;
}

/** The load check publish runs, and what it printed, so the summary line can say it. */
function loadCheck(): { verify: (folder: string, manifest: ModelManifest) => Promise<void>; note: () => string } {
  let result: LoadCheckResult | undefined;
  return {
    verify: async (folder, manifest) => {
      result = await checkModelLoads(folder, manifest);
    },
    note: () => (result === undefined ? '' : result.checked ? `; loaded and ran on ${result.engine}` : `; not load-checked: ${result.reason}`),
  };
}

/** Runs one `models …` command. Returns the exit code: 0 ok, 1 failure, 2 usage error. */
export async function runModelCommand(argv: string[], registry: ModelRegistry, out: CommandOutput, options: ModelCommandOptions = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      version: { type: 'string' },
      manifest: { type: 'string' },
      reader: { type: 'string' },
      limits: { type: 'string' },
      url: { type: 'string' },
      live: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const print = (value: unknown, text: string) => out.write(values.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  const [noun, verb, ...rest] = positionals;
  if (values.help || noun !== 'models' || !verb) {
    out.write(`${modelsUsage}\n`);
    return values.help ? 0 : 2;
  }
  try {
    if (verb === 'list') {
      const models = await registry.list();
      const lines = models.flatMap((model) => [
        `${model.name}${model.remote ? ' (remote)' : ''}`,
        ...model.versions.map(({ version, manifest }) => {
          const accuracy = manifest.metrics?.testAccuracy;
          return `  ${version === model.liveVersion ? '*' : ' '} ${version}  ${manifest.format}  ${manifest.createdAt}${accuracy !== undefined ? `  test accuracy ${accuracy}` : ''}`;
        }),
        ...model.problems.map((problem) => `  ! ${problem.version}: ${problem.reason}`),
      ]);
      print(
        models.map((model) => ({
          name: model.name,
          liveVersion: model.liveVersion,
          versions: model.versions.map(({ version, manifest }) => ({ version, format: manifest.format, sha256: manifest.sha256, createdAt: manifest.createdAt, metrics: manifest.metrics ?? null })),
          problems: model.problems,
        })),
        lines.join('\n') || `(no models in ${registry.root})`,
      );
      return 0;
    }
    if (verb === 'add') {
      const file = rest[0];
      if (!file || !values.name) throw new UsageError('models add FILE.onnx --name NAME [--version V]');
      const bytes = await readFile(path.resolve(file)).catch((error: unknown) => {
        throw new AppError('VALIDATION_FAILED', `cannot read ${file}: ${(error as Error).message}`, { details: { field: 'file' } });
      });
      // The external data files it names (torch.onnx.export's model.onnx.data) sit beside it;
      // a file that is no ONNX model names none, and addOnnxModel says what is wrong with it.
      let named: string[] = [];
      try {
        named = inspectOnnxModel(bytes).externalData.map((entry) => entry.path);
      } catch {
        named = [];
      }
      const externalData = await Promise.all(named.map(async (name) => ({ path: name, bytes: await readFile(path.join(path.dirname(path.resolve(file)), name)) }))).catch((error: unknown) => {
        throw new AppError('VALIDATION_FAILED', `${file}: ${(error as Error).message}`, { details: { field: 'file' } });
      });
      const check = loadCheck();
      const result = await addOnnxModel(registry, {
        name: values.name,
        version: values.version,
        bytes,
        externalData,
        reader: jsonOption(values.reader, 'reader'),
        limits: jsonOption(values.limits, 'limits'),
        source: path.basename(file),
        verify: check.verify,
      });
      const { manifest } = result.model;
      const describe = (specs: NonNullable<ModelManifest['inputs']>) => specs.map((spec) => `${spec.name} ${spec.datatype}[${spec.shape.join(', ')}]`).join(', ');
      print(
        { status: result.status, name: values.name, version: result.version, live: result.live, sha256: manifest.sha256, inputs: manifest.inputs, outputs: manifest.outputs, reader: manifest.reader?.kind ?? 'raw' },
        `${values.name}@${result.version} ${result.status}${result.live ? ', live' : ''} (inputs: ${describe(manifest.inputs ?? [])}; outputs: ${describe(manifest.outputs ?? [])})${check.note()}`,
      );
      return 0;
    }
    if (verb === 'set-live') {
      const [name, version] = rest;
      if (!name || !version) throw new UsageError('name the model and the version');
      await registry.setLive(name, version);
      print({ name, liveVersion: version }, `${name}: ${version} is live; workers load it and switch within their watch interval`);
      return 0;
    }
    if (verb === 'publish') {
      if (!values.name || !values.version) throw new UsageError('--name and --version are required');
      const dir = rest[0];
      if ((dir === undefined) === (values.url === undefined)) throw new UsageError('give a folder or --url, not both');
      let files: ModelFile[];
      let manifest: PublishManifest;
      if (values.url !== undefined) {
        if (!values.manifest) throw new UsageError('--manifest is required with --url');
        manifest = await manifestFrom(values.manifest);
        // The operator names the host, inside the network or not: it is allowed. The download is
        // still bounded, redirect-free and checked like the API's, and streamed to disk.
        const host = URL.canParse(values.url) ? new URL(values.url).hostname : '';
        const folder = await registry.createStagingFolder();
        try {
          await downloadModel(values.url, { into: folder, format: manifest.format, policy: { allowHosts: [host], allowLoopback: true } });
          const check = loadCheck();
          const result = await registry.publishFolder({ name: values.name, version: values.version, folder, manifest, setLive: values.live, verify: check.verify });
          print(
            { status: result.status, name: values.name, version: values.version, sha256: result.model.manifest.sha256, live: values.live },
            `${values.name}@${values.version} ${result.status} (sha256 ${result.model.manifest.sha256.slice(0, 12)}…)${values.live ? ', live' : ''}${check.note()}`,
          );
          return 0;
        } finally {
          await rm(folder, { recursive: true, force: true });
        }
      } else {
        const folder = path.resolve(dir as string);
        const format = await detectFormat(folder);
        manifest = { ...(await manifestFrom(values.manifest ?? path.join(folder, manifestFileName))), format };
        if (format === 'saved_model' && !(options.savedModelsSupported ?? savedModelsSupported())) {
          throw new AppError(
            'MODEL_FORMAT_UNSUPPORTED',
            'a SavedModel can only be served where @tensorflow/tfjs-node (or -gpu) is installed; convert it with tensorflowjs_converter, or install tfjs-node (README, "Backends")',
            { details: { format } },
          );
        }
        files = await readVersionFiles(folder, format);
        // A TF.js folder may hold its ONNX copy too (layersToOnnx, or tf2onnx): published beside it.
        if ((format === 'layers' || format === 'graph') && (await exists(path.join(folder, onnxFileName)))) files.push(await readOnnxFile(folder));
      }
      const check = loadCheck();
      const result = await registry.publish({ name: values.name, version: values.version, files, manifest, setLive: values.live, verify: check.verify });
      print(
        { status: result.status, name: values.name, version: values.version, sha256: result.model.manifest.sha256, live: values.live },
        `${values.name}@${values.version} ${result.status} (sha256 ${result.model.manifest.sha256.slice(0, 12)}…)${values.live ? ', live' : ''}${check.note()}`,
      );
      return 0;
    }
    throw new UsageError(`unknown command: ${positionals.join(' ')}`);
  } catch (error) {
    return exitCodeForError(error, modelsUsage, out);
  }
}


async function detectFormat(folder: string): Promise<ModelFormat> {
  if (await exists(path.join(folder, savedModelFileName))) return 'saved_model';
  const manifest = await readModelManifest(folder).catch(() => null);
  if (manifest) return manifest.format;
  // model.onnx alone (a torch.onnx.export output): an onnx version.
  return (await exists(path.join(folder, onnxFileName))) && !(await exists(path.join(folder, 'model.json'))) ? 'onnx' : 'layers';
}

/** A manifest file as publishing takes it: name, version, hash and date are the registry's to set. */
async function manifestFrom(file: string): Promise<PublishManifest> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', `cannot read the manifest ${file}: ${(error as Error).message}`, { details: { field: 'manifest' } });
  }
  const { name: _name, version: _version, sha256: _sha256, createdAt: _createdAt, ...rest } = json;
  // Checked in full by publish; here only so a typo names the field before any file is read.
  const shape = modelManifestFields.omit({ name: true, version: true, sha256: true, createdAt: true }).safeParse(rest);
  if (!shape.success) {
    throw new AppError('VALIDATION_FAILED', `invalid manifest ${file}: ${shape.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return rest as PublishManifest;
}

function jsonOption(value: string | undefined, field: string): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new UsageError(`--${field} must be JSON`);
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
