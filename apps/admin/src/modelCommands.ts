import { access, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AppError, putTrafficBodySchema, type TrafficSplit } from '@inferq/core';
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
import { setTrafficSplit } from '@inferq/rollout';
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
                                            (and any traffic split of NAME is removed)
  models traffic NAME                       the traffic split of NAME (none: the live version takes all)
  models traffic NAME V=W [V=W …] [--sticky user|none] [--shadow V] [--rules JSON]
                                            send jobs that name no version to each V by weight W,
                                            shadow each on V, roll back by the rules (JSON, e.g.
                                            '{"minAgreement":0.95,"maxErrorRate":0.02,"minJobs":200}')
  models traffic NAME --clear               remove the split
  models tune NAME [--version V] [--budget-ms N] [--seconds S] [--engine auto|onnxruntime|tfjs]
             [--provider auto|cpu|cuda|…] [--threads N] [--publish NEW_VERSION] [--live]
                                            calibrate the batch settings of NAME (its live version,
                                            or V) on this machine's engine: batch sizes 1-64, then
                                            delays; of the settings whose p99 keeps the budget
                                            (--budget-ms, else the manifest's limits.latencyBudgetMs,
                                            else 1000) and within 3% of the best rate, the lowest
                                            p99. Run it on a machine of the model's worker pool.
                                            The pick is published as a new version (the same
                                            files, limits.maxBatchSize/maxDelayMs set; NEW_VERSION,
                                            else <version>+b<size>d<delay>); then, at the pick,
                                            ORT threads 1,2 × worker processes 1,2 within this
                                            machine's cores, and reports the best layout (the
                                            worker's ORT_INTRA_OP_THREADS and WORKER_PROCESSES;
                                            --skip-layouts leaves it out)

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
    note: () =>
      result === undefined
        ? ''
        : result.checked
          ? `; loaded and ran on ${result.engine}`
          : `; not load-checked: ${result.reason}`,
  };
}

/** Runs one `models …` command. Returns the exit code: 0 ok, 1 failure, 2 usage error. */
export async function runModelCommand(
  argv: string[],
  registry: ModelRegistry,
  out: CommandOutput,
  options: ModelCommandOptions = {},
): Promise<number> {
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
      sticky: { type: 'string' },
      shadow: { type: 'string' },
      rules: { type: 'string' },
      clear: { type: 'boolean', default: false },
      'budget-ms': { type: 'string' },
      seconds: { type: 'string' },
      engine: { type: 'string' },
      provider: { type: 'string' },
      threads: { type: 'string' },
      publish: { type: 'string' },
      'skip-layouts': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const print = (value: unknown, text: string) =>
    out.write(values.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
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
          versions: model.versions.map(({ version, manifest }) => ({
            version,
            format: manifest.format,
            sha256: manifest.sha256,
            createdAt: manifest.createdAt,
            metrics: manifest.metrics ?? null,
          })),
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
        throw new AppError('VALIDATION_FAILED', `cannot read ${file}: ${(error as Error).message}`, {
          details: { field: 'file' },
        });
      });
      // The external data files it names (torch.onnx.export's model.onnx.data) sit beside it;
      // a file that is no ONNX model names none, and addOnnxModel says what is wrong with it.
      let named: string[] = [];
      try {
        named = inspectOnnxModel(bytes).externalData.map((entry) => entry.path);
      } catch {
        named = [];
      }
      const externalData = await Promise.all(
        named.map(async (name) => ({
          path: name,
          bytes: await readFile(path.join(path.dirname(path.resolve(file)), name)),
        })),
      ).catch((error: unknown) => {
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
      const describe = (specs: NonNullable<ModelManifest['inputs']>) =>
        specs.map((spec) => `${spec.name} ${spec.datatype}[${spec.shape.join(', ')}]`).join(', ');
      print(
        {
          status: result.status,
          name: values.name,
          version: result.version,
          live: result.live,
          sha256: manifest.sha256,
          inputs: manifest.inputs,
          outputs: manifest.outputs,
          reader: manifest.reader?.kind ?? 'raw',
        },
        `${values.name}@${result.version} ${result.status}${result.live ? ', live' : ''} (inputs: ${describe(manifest.inputs ?? [])}; outputs: ${describe(manifest.outputs ?? [])})${check.note()}`,
      );
      return 0;
    }
    if (verb === 'set-live') {
      const [name, version] = rest;
      if (!name || !version) throw new UsageError('name the model and the version');
      await registry.setLive(name, version);
      print(
        { name, liveVersion: version },
        `${name}: ${version} is live; workers load it and switch within their watch interval`,
      );
      return 0;
    }
    if (verb === 'traffic') {
      const [name, ...weights] = rest;
      if (!name) throw new UsageError('name the model');
      if (values.clear) {
        await registry.resolve(name);
        await registry.setTraffic(name, null);
        print({ name, traffic: null }, `${name}: no split; jobs that name no version run on the live version`);
        return 0;
      }
      if (weights.length === 0) {
        const traffic = await registry.readTraffic(name);
        const live = (await registry.resolve(name)).version;
        print(
          { name, liveVersion: live, traffic },
          traffic
            ? describeTraffic(name, traffic)
            : `${name}: no split; live version ${live} takes every job that names no version`,
        );
        return 0;
      }
      let rules: unknown;
      try {
        rules = values.rules === undefined ? undefined : JSON.parse(values.rules);
      } catch {
        throw new UsageError('--rules must be JSON');
      }
      const split = weights.map((pair) => {
        const [version, weight] = pair.split('=');
        if (!version || weight === undefined || weight === '' || !Number.isFinite(Number(weight)))
          throw new UsageError(`"${pair}" is not VERSION=WEIGHT`);
        return { version, weight: Number(weight) };
      });
      const body = putTrafficBodySchema.safeParse({
        split,
        ...(values.sticky ? { sticky: values.sticky } : {}),
        ...(values.shadow ? { shadow: values.shadow } : {}),
        ...(rules !== undefined ? { rules } : {}),
      });
      if (!body.success)
        throw new AppError(
          'VALIDATION_FAILED',
          `invalid split: ${body.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
        );
      const traffic = await setTrafficSplit(registry, name, body.data);
      print(
        { name, traffic },
        `${describeTraffic(name, traffic)}\nworkers load every version of it within their watch interval; until one has, its share goes to ${traffic.baseline}`,
      );
      return 0;
    }
    if (verb === 'tune') {
      const [name] = rest;
      if (!name) throw new UsageError('name the model');
      return await tuneModel(registry, name, values, print, out);
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
          await downloadModel(values.url, {
            into: folder,
            format: manifest.format,
            policy: { allowHosts: [host], allowLoopback: true },
          });
          const check = loadCheck();
          const result = await registry.publishFolder({
            name: values.name,
            version: values.version,
            folder,
            manifest,
            setLive: values.live,
            verify: check.verify,
          });
          print(
            {
              status: result.status,
              name: values.name,
              version: values.version,
              sha256: result.model.manifest.sha256,
              live: values.live,
            },
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
            'a SavedModel can only be served where @tensorflow/tfjs-node (or -gpu) is installed; convert it with tensorflowjs_converter, or install tfjs-node (docs/models/engines.md)',
            { details: { format } },
          );
        }
        files = await readVersionFiles(folder, format);
        // A TF.js folder may hold its ONNX copy too (layersToOnnx, or tf2onnx): published beside it.
        if ((format === 'layers' || format === 'graph') && (await exists(path.join(folder, onnxFileName))))
          files.push(await readOnnxFile(folder));
      }
      const check = loadCheck();
      const result = await registry.publish({
        name: values.name,
        version: values.version,
        files,
        manifest,
        setLive: values.live,
        verify: check.verify,
      });
      print(
        {
          status: result.status,
          name: values.name,
          version: values.version,
          sha256: result.model.manifest.sha256,
          live: values.live,
        },
        `${values.name}@${values.version} ${result.status} (sha256 ${result.model.manifest.sha256.slice(0, 12)}…)${values.live ? ', live' : ''}${check.note()}`,
      );
      return 0;
    }
    throw new UsageError(`unknown command: ${positionals.join(' ')}`);
  } catch (error) {
    return exitCodeForError(error, modelsUsage, out);
  }
}

/** `models tune`: calibrates on this machine's engine, prints every point, publishes the pick as a new version. */
async function tuneModel(
  registry: ModelRegistry,
  name: string,
  values: {
    version?: string | undefined;
    'budget-ms'?: string | undefined;
    seconds?: string | undefined;
    engine?: string | undefined;
    provider?: string | undefined;
    threads?: string | undefined;
    publish?: string | undefined;
    live?: boolean | undefined;
    'skip-layouts'?: boolean | undefined;
    json?: boolean | undefined;
  },
  print: (value: unknown, text: string) => void,
  out: CommandOutput,
): Promise<number> {
  const resolved = await registry.resolve(name, values.version);
  const { manifest, location } = resolved;
  const budgetMs =
    values['budget-ms'] !== undefined ? Number(values['budget-ms']) : (manifest.limits?.latencyBudgetMs ?? 1000);
  const seconds = values.seconds !== undefined ? Number(values.seconds) : 1.5;
  const threads = values.threads !== undefined ? Number(values.threads) : 1;
  if (!(budgetMs > 0) || !(seconds > 0) || !Number.isInteger(threads) || threads < 1)
    throw new UsageError('--budget-ms, --seconds and --threads must be positive numbers');
  if (typeof location !== 'string' || /^https?:/.test(location))
    throw new UsageError('a remote model is tuned where its files are published');
  // Imported here: TF.js and ONNX Runtime are heavy, and only this command needs them.
  const inference = await import('@inferq/inference');
  const silent = { info: () => {}, warn: () => {} };
  const provider = (values.provider ?? 'auto') as (typeof inference.onnxProviderPreferences)[number];
  const engine = (values.engine ?? 'auto') as (typeof inference.enginePreferences)[number];
  if (!inference.onnxProviderPreferences.includes(provider))
    throw new UsageError(`--provider is one of ${inference.onnxProviderPreferences.join(', ')}`);
  if (!inference.enginePreferences.includes(engine))
    throw new UsageError(`--engine is one of ${inference.enginePreferences.join(', ')}`);
  // The engines a worker would start here, with the same preferences.
  const engines = await inference.createInferenceEngines({
    tfjsBackend: 'auto',
    onnxProvider: provider,
    intraOpThreads: threads,
    logger: silent,
  });
  const model = await inference.loadModel(location, manifest, { engines, engine });
  let result: Awaited<ReturnType<typeof inference.tuneBatching>>;
  try {
    if (!values.json)
      out.write(
        `tuning ${name}@${manifest.version} on ${model.engine} (${threads} thread${threads === 1 ? '' : 's'}), p99 budget ${budgetMs} ms, ${seconds} s a point\n`,
      );
    result = await inference.tuneBatching(model, {
      budgetMs,
      durationMs: seconds * 1000,
      onPoint: (point) => {
        if (!values.json)
          out.write(
            `  batch ${String(point.maxBatchSize).padStart(2)} delay ${String(point.maxDelayMs).padStart(2)} ms: ${point.imagesPerSecond.toFixed(1)} images/s, p50 ${point.p50Ms.toFixed(1)} ms, p99 ${point.p99Ms.toFixed(1)} ms\n`,
          );
      },
    });
  } finally {
    model.dispose();
  }
  const { best } = result;
  if (!best) {
    print(
      { name, version: manifest.version, engine: model.engine, budgetMs, best: null, points: result.points },
      `no setting keeps a p99 of ${budgetMs} ms on ${model.engine}, not even batch 1: nothing published`,
    );
    return 1;
  }
  // Threads and processes are the worker's settings, not the manifest's: measured at the pick in
  // processes of their own (ONNX Runtime's thread count is per process), reported, not published.
  let layouts: Awaited<ReturnType<typeof inference.tuneParallelism>> | null = null;
  if (!values['skip-layouts']) {
    if (!values.json)
      out.write(
        `layouts at batch ${best.maxBatchSize} delay ${best.maxDelayMs} ms (ORT threads × worker processes):\n`,
      );
    layouts = await inference.tuneParallelism({
      entry: fileURLToPath(new URL('./tuneProcess.ts', import.meta.url)),
      args: [JSON.stringify({ location, manifest, engine, provider })],
      setting: { maxBatchSize: best.maxBatchSize, maxDelayMs: best.maxDelayMs },
      budgetMs,
      durationMs: seconds * 1000,
      onPoint: (point) => {
        if (!values.json)
          out.write(
            `  ${point.threads} thread${point.threads === 1 ? ' ' : 's'} × ${point.processes} process${point.processes === 1 ? '  ' : 'es'}: ${point.imagesPerSecond.toFixed(1)} images/s, p99 ${point.p99Ms.toFixed(1)} ms\n`,
          );
      },
    });
  }
  const layout = layouts?.best
    ? `; workers here: ORT_INTRA_OP_THREADS=${layouts.best.threads} WORKER_PROCESSES=${layouts.best.processes} (${layouts.best.imagesPerSecond.toFixed(1)} images/s, p99 ${layouts.best.p99Ms.toFixed(1)} ms)`
    : '';
  const version = values.publish ?? `${manifest.version}+b${best.maxBatchSize}d${best.maxDelayMs}`;
  const files = await readVersionFiles(location, manifest.format);
  if ((manifest.format === 'layers' || manifest.format === 'graph') && manifest.onnx !== undefined)
    files.push(await readOnnxFile(location));
  const { name: _n, version: _v, sha256: _s, createdAt: _c, onnx: _o, ...rest } = manifest;
  const published = await registry.publish({
    name,
    version,
    files,
    manifest: {
      ...rest,
      limits: {
        ...manifest.limits,
        maxBatchSize: best.maxBatchSize,
        maxDelayMs: best.maxDelayMs,
        latencyBudgetMs: budgetMs,
      },
    } as PublishManifest,
    setLive: values.live ?? false,
  });
  print(
    {
      name,
      from: manifest.version,
      version,
      status: published.status,
      engine: model.engine,
      budgetMs,
      best,
      points: result.points,
      layouts,
      live: values.live ?? false,
    },
    `best within ${budgetMs} ms: maxBatchSize ${best.maxBatchSize}, maxDelayMs ${best.maxDelayMs} (${best.imagesPerSecond.toFixed(1)} images/s, p99 ${best.p99Ms.toFixed(1)} ms); ${name}@${version} ${published.status}${values.live ? ', live' : ` (make it live with: pnpm admin models set-live ${name} ${version})`}${layout}`,
  );
  return 0;
}

function describeTraffic(name: string, traffic: TrafficSplit): string {
  const total = traffic.split.reduce((sum, entry) => sum + entry.weight, 0);
  const shares = traffic.split
    .map((entry) => `${entry.version} ${Math.round((entry.weight / total) * 1000) / 10}%`)
    .join(', ');
  return [
    `${name}: ${shares} (baseline ${traffic.baseline}, sticky ${traffic.sticky}, since ${traffic.since})`,
    ...(traffic.shadow ? [`  shadow: ${traffic.shadow}`] : []),
    ...(traffic.rules ? [`  rules: ${JSON.stringify(traffic.rules)}`] : []),
  ].join('\n');
}

async function detectFormat(folder: string): Promise<ModelFormat> {
  if (await exists(path.join(folder, savedModelFileName))) return 'saved_model';
  const manifest = await readModelManifest(folder).catch(() => null);
  if (manifest) return manifest.format;
  // model.onnx alone (a torch.onnx.export output): an onnx version.
  return (await exists(path.join(folder, onnxFileName))) && !(await exists(path.join(folder, 'model.json')))
    ? 'onnx'
    : 'layers';
}

/** A manifest file as publishing takes it: name, version, hash and date are the registry's to set. */
async function manifestFrom(file: string): Promise<PublishManifest> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', `cannot read the manifest ${file}: ${(error as Error).message}`, {
      details: { field: 'manifest' },
    });
  }
  const { name: _name, version: _version, sha256: _sha256, createdAt: _createdAt, ...rest } = json;
  // Checked in full by publish; here only so a typo names the field before any file is read.
  const shape = modelManifestFields.omit({ name: true, version: true, sha256: true, createdAt: true }).safeParse(rest);
  if (!shape.success) {
    throw new AppError(
      'VALIDATION_FAILED',
      `invalid manifest ${file}: ${shape.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
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
