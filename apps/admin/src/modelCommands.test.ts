import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parallelLayouts } from '@inferq/inference';
import { ModelRegistry } from '@inferq/models';
import { mnistFixtureFolder } from '@inferq/training';
import { tinyOnnxManifest, tinyOnnxModel } from '../../../packages/models/test/onnxFixture.ts';
import { runModelCommand } from './modelCommands.ts';

let root: string;
let registry: ModelRegistry;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'inferq-cli-models-'));
  registry = new ModelRegistry({ root: path.join(root, 'registry') });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function run(argv: string[], savedModelsSupported = false) {
  let text = '';
  const code = await runModelCommand(
    ['models', ...argv],
    registry,
    { write: (chunk) => (text += chunk) },
    { savedModelsSupported },
  );
  return { code, text };
}

/** A SavedModel-shaped folder (saved_model.pb + variables/) with the MNIST manifest. */
async function savedModelFolder(): Promise<string> {
  const folder = path.join(root, 'saved');
  await mkdir(path.join(folder, 'variables'), { recursive: true });
  await writeFile(path.join(folder, 'saved_model.pb'), 'graph');
  await writeFile(path.join(folder, 'variables', 'variables.index'), 'index');
  await writeFile(path.join(folder, 'manifest.json'), await readFile(path.join(mnistFixtureFolder, 'manifest.json')));
  return folder;
}

/** A folder as torch.onnx.export leaves it: model.onnx, its weights in model.onnx.data, and a manifest. */
async function onnxFolder(name: string, options: { opType?: string; withData?: boolean } = {}): Promise<string> {
  const folder = path.join(root, name);
  await mkdir(folder, { recursive: true });
  const { model, data } = tinyOnnxModel({
    externalData: 'model.onnx.data',
    ...(options.opType ? { opType: options.opType } : {}),
  });
  await writeFile(path.join(folder, 'model.onnx'), model);
  if (options.withData ?? true) await writeFile(path.join(folder, 'model.onnx.data'), data);
  await writeFile(path.join(folder, 'manifest.json'), JSON.stringify(tinyOnnxManifest));
  return folder;
}

describe('inferq-admin models publish, ONNX with external data', () => {
  it('takes model.onnx.data with model.onnx, loads and runs the version, then makes it live', async () => {
    const published = await run([
      'publish',
      await onnxFolder('export'),
      '--name',
      'tiny',
      '--version',
      '1.0.0',
      '--live',
    ]);
    expect(published.code).toBe(0);
    expect(published.text).toMatch(/tiny@1\.0\.0 written .*, live; loaded and ran on onnxruntime-cpu/);
    const live = await registry.resolve('tiny');
    expect(live.version).toBe('1.0.0');
    expect((await readdir(live.location)).sort()).toEqual(['manifest.json', 'model.onnx', 'model.onnx.data']);
  });

  it('refuses model.onnx without its data file, and leaves the live version as it was', async () => {
    expect(
      (await run(['publish', await onnxFolder('good'), '--name', 'tiny', '--version', '1.0.0', '--live'])).code,
    ).toBe(0);
    const refused = await run([
      'publish',
      await onnxFolder('lost', { withData: false }),
      '--name',
      'tiny',
      '--version',
      '2.0.0',
      '--live',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.text).toMatch(/^error: MODEL_NOT_READY: .*model\.onnx\.data/);
    await expect(registry.resolve('tiny', '2.0.0')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    expect((await registry.resolve('tiny')).version).toBe('1.0.0');
  });

  it('never publishes a version ONNX Runtime cannot load, --live or not', async () => {
    expect(
      (await run(['publish', await onnxFolder('good'), '--name', 'tiny', '--version', '1.0.0', '--live'])).code,
    ).toBe(0);
    // It parses as ONNX and its input fits the manifest; only loading it shows the unknown operator.
    for (const live of [['--live'], []]) {
      const refused = await run([
        'publish',
        await onnxFolder('unknown-op', { opType: 'NoSuchOperator' }),
        '--name',
        'tiny',
        '--version',
        '2.0.0',
        ...live,
      ]);
      expect(refused.code).toBe(1);
      expect(refused.text).toMatch(/^error: MODEL_NOT_READY: the load check failed/);
      await expect(registry.resolve('tiny', '2.0.0')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    }
    // No LIVE file would have made the highest version live: the registry still serves 1.0.0.
    expect((await registry.resolve('tiny')).version).toBe('1.0.0');
  });
});

describe('inferq-admin models', () => {
  it('publishes a folder, lists it, publishes another version and switches the live one', async () => {
    expect((await run(['publish', mnistFixtureFolder, '--name', 'digits', '--version', '1.0.0', '--live'])).code).toBe(
      0,
    );
    expect((await run(['publish', mnistFixtureFolder, '--name', 'digits', '--version', '2.0.0'])).code).toBe(0);
    const listed = JSON.parse((await run(['list', '--json'])).text) as Array<{
      name: string;
      liveVersion: string;
      versions: Array<{ version: string; metrics: { testAccuracy: number } }>;
    }>;
    expect(listed).toMatchObject([{ name: 'digits', liveVersion: '1.0.0' }]);
    expect(listed[0]!.versions.map((v) => v.version)).toEqual(['1.0.0', '2.0.0']);
    expect(listed[0]!.versions[0]!.metrics.testAccuracy).toBeGreaterThan(0.95);

    expect((await run(['set-live', 'digits', '2.0.0'])).code).toBe(0);
    expect((await registry.resolve('digits')).version).toBe('2.0.0');
    expect((await run(['list'])).text).toContain('* 2.0.0');
  });

  it('publishes from a URL on a host inside the network (the operator names it), streamed to the registry', async () => {
    const server = createServer((req, res) => {
      const file = (req.url ?? '').replace(/^\/m\//, '');
      readFile(path.join(mnistFixtureFolder, file)).then(
        (bytes) => res.writeHead(200).end(bytes),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/model.json`;
      const manifest = path.join(mnistFixtureFolder, 'manifest.json');
      const published = await run([
        'publish',
        '--url',
        url,
        '--manifest',
        manifest,
        '--name',
        'remote-digits',
        '--version',
        '1.0.0',
      ]);
      expect(published.code).toBe(0);
      const expected = JSON.parse(await readFile(manifest, 'utf8')) as { sha256: string };
      expect((await registry.resolve('remote-digits', '1.0.0')).manifest.sha256).toBe(expected.sha256);
      // A URL that is no model is refused, and nothing is kept.
      const refused = await run([
        'publish',
        '--url',
        url.replace('model.json', 'manifest.json'),
        '--manifest',
        manifest,
        '--name',
        'remote-digits',
        '--version',
        '2.0.0',
      ]);
      expect(refused.code).toBe(1);
      expect(refused.text).toMatch(/^error: VALIDATION_FAILED:/);
      await expect(registry.resolve('remote-digits', '2.0.0')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses a SavedModel with MODEL_FORMAT_UNSUPPORTED where tfjs-node is not installed, and registers it where it is', async () => {
    const folder = await savedModelFolder();
    const refused = await run(['publish', folder, '--name', 'saved', '--version', '1']);
    expect(refused.code).toBe(1);
    expect(refused.text).toMatch(/^error: MODEL_FORMAT_UNSUPPORTED:/);
    await expect(registry.resolve('saved')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });

    expect((await run(['publish', folder, '--name', 'saved', '--version', '1'], true)).code).toBe(0);
    expect((await registry.resolve('saved', '1')).manifest.format).toBe('saved_model');
  });

  it.each([
    [['publish', '--name', 'x', '--version', '1']],
    [['publish', 'dir', '--url', 'https://h/model.json', '--name', 'x', '--version', '1']],
    [['set-live', 'digits']],
    [['frobnicate']],
  ])('exits 2 on a usage error: %j', async (argv) => {
    expect((await run(argv)).code).toBe(2);
  });

  it.each([
    ['an unknown version made live', ['set-live', 'digits', '9.9.9'], 'MODEL_NOT_FOUND'],
    [
      'a folder with no model',
      [
        'publish',
        '/nonexistent',
        '--name',
        'x',
        '--version',
        '1',
        '--manifest',
        path.join(mnistFixtureFolder, 'manifest.json'),
      ],
      'MODEL_NOT_READY',
    ],
  ])('exits 1 with the code on %s', async (_case, argv, code) => {
    const result = await run(argv);
    expect(result.code).toBe(1);
    expect(result.text.startsWith(`error: ${code}:`)).toBe(true);
  });
});

describe('inferq-admin models traffic', () => {
  async function twoVersions(): Promise<void> {
    expect((await run(['publish', mnistFixtureFolder, '--name', 'mnist', '--version', '1.0.0', '--live'])).code).toBe(
      0,
    );
    expect((await run(['publish', mnistFixtureFolder, '--name', 'mnist', '--version', '1.1.0'])).code).toBe(0);
  }

  it('sets a split with the live version as its baseline, shows it, and set-live removes it', async () => {
    await twoVersions();
    const set = await run([
      'traffic',
      'mnist',
      '1.0.0=95',
      '1.1.0=5',
      '--shadow',
      '1.1.0',
      '--rules',
      '{"minAgreement":0.95,"minJobs":200}',
      '--json',
    ]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.text).traffic).toMatchObject({
      split: [
        { version: '1.0.0', weight: 95 },
        { version: '1.1.0', weight: 5 },
      ],
      shadow: '1.1.0',
      baseline: '1.0.0',
      rules: { minAgreement: 0.95, minJobs: 200 },
    });
    expect((await run(['traffic', 'mnist'])).text).toMatch(/1\.0\.0 95%, 1\.1\.0 5% \(baseline 1\.0\.0/);
    expect((await run(['set-live', 'mnist', '1.1.0'])).code).toBe(0);
    expect(await registry.readTraffic('mnist')).toBeNull();
  });

  it.each([
    ['a weight that is not a number', ['1.0.0=lots'], 2],
    ['a version twice', ['1.0.0=1', '1.0.0=2'], 1],
    ['a version that does not exist', ['9.9.9=1'], 1],
    ['rules that are not JSON', ['1.0.0=1', '--rules', '{'], 2],
    ['an unknown rule', ['1.0.0=1', '--rules', '{"maxErrors":1}'], 1],
  ])('refuses %s and stores nothing', async (_case, args, code) => {
    await twoVersions();
    expect((await run(['traffic', 'mnist', ...args])).code).toBe(code);
    expect(await registry.readTraffic('mnist')).toBeNull();
  });

  it('removes a split with --clear', async () => {
    await twoVersions();
    expect((await run(['traffic', 'mnist', '1.1.0=1'])).code).toBe(0);
    expect(await registry.readTraffic('mnist')).not.toBeNull();
    expect((await run(['traffic', 'mnist', '--clear'])).code).toBe(0);
    expect(await registry.readTraffic('mnist')).toBeNull();
  });
});

describe('inferq-admin models tune', () => {
  it('calibrates on this machine and publishes the pick as a new version with those limits, the live one untouched', async () => {
    expect((await run(['publish', mnistFixtureFolder, '--name', 'mnist', '--version', '1.0.0', '--live'])).code).toBe(
      0,
    );
    const tuned = await run(['tune', 'mnist', '--seconds', '0.1', '--budget-ms', '10000', '--json']);
    expect(tuned.code).toBe(0);
    const answer = JSON.parse(tuned.text) as {
      version: string;
      status: string;
      budgetMs: number;
      best: { maxBatchSize: number; maxDelayMs: number; p99Ms: number };
      points: Array<{ maxBatchSize: number; maxDelayMs: number }>;
    };
    expect(answer.status).toBe('written');
    expect(answer.best.p99Ms).toBeLessThanOrEqual(10_000);
    // Batch sizes 1 to 64 at 2 ms, twice in turns, then the other delays at the pick's size.
    expect(answer.points.filter((point) => point.maxDelayMs === 2).map((point) => point.maxBatchSize)).toEqual([
      1, 2, 4, 8, 16, 32, 64, 1, 2, 4, 8, 16, 32, 64,
    ]);
    expect(answer.points.filter((point) => point.maxDelayMs !== 2).map((point) => point.maxDelayMs)).toEqual([
      0, 5, 10,
    ]);
    expect(answer.version).toBe(`1.0.0+b${answer.best.maxBatchSize}d${answer.best.maxDelayMs}`);
    const published = await registry.resolve('mnist', answer.version);
    expect(published.manifest.limits).toMatchObject({
      maxBatchSize: answer.best.maxBatchSize,
      maxDelayMs: answer.best.maxDelayMs,
      latencyBudgetMs: 10_000,
    });
    expect(published.manifest.sha256).toBe((await registry.resolve('mnist', '1.0.0')).manifest.sha256);
    expect((await registry.resolve('mnist')).version).toBe('1.0.0');
    // Then ORT threads × worker processes at the pick, each layout within this machine's cores,
    // measured in processes of their own (every one answered), and a pick among them.
    const layouts = (
      answer as unknown as {
        layouts: {
          best: { threads: number; processes: number } | null;
          points: Array<{ threads: number; processes: number; imagesPerSecond: number }>;
        };
      }
    ).layouts;
    expect(layouts.points.map(({ threads, processes }) => `${threads}x${processes}`)).toEqual(
      parallelLayouts([1, 2], [1, 2], availableParallelism()).map(
        ({ threads, processes }) => `${threads}x${processes}`,
      ),
    );
    expect(layouts.points.every((point) => point.imagesPerSecond > 0)).toBe(true);
    expect(layouts.points).toContainEqual(expect.objectContaining(layouts.best));
  }, 90_000);

  it('refuses a budget that is not a positive number', async () => {
    expect((await run(['publish', mnistFixtureFolder, '--name', 'mnist', '--version', '1.0.0', '--live'])).code).toBe(
      0,
    );
    expect((await run(['tune', 'mnist', '--budget-ms', 'soon'])).code).toBe(2);
  });
});
