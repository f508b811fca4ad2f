import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '@inferq/core';
import { computeModelHash, inspectOnnxModel, ModelRegistry, modelProblemOf, readOnnxFiles, tfjsWeightGroups, type ModelManifestInput } from '../src/index.ts';
import { tinyOnnxManifest, tinyOnnxModel } from './onnxFixture.ts';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'inferq-registry-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function manifestFor(name: string, version: string, sha256 = 'a'.repeat(64)): ModelManifestInput {
  return {
    name,
    version,
    format: 'layers',
    input: { width: 2, height: 2, channels: 3, resize: 'fill', scale: { mode: 'divide', divisor: 255 } },
    output: { kind: 'classification', labels: ['cat', 'dog'], activation: 'softmax' },
    sha256,
    createdAt: '2025-01-01T00:00:00.000Z',
  };
}

/** Writes a version folder with a tiny model.json, one shard and a manifest whose hash matches. */
async function writeVersion(name: string, version: string, overrides: Partial<ModelManifestInput> = {}): Promise<string> {
  const folder = path.join(root, name, version);
  await mkdir(folder, { recursive: true });
  await writeFile(path.join(folder, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights: [] }] }));
  await writeFile(path.join(folder, 'w.bin'), Buffer.from([1, 2, 3, version.length]));
  const manifest = { ...manifestFor(name, version, await computeModelHash(folder)), ...overrides };
  await writeFile(path.join(folder, 'manifest.json'), JSON.stringify(manifest));
  return folder;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return (error as AppError).code;
}

describe('ModelRegistry.resolve', () => {
  it('takes the highest version by natural order when there is no LIVE file', async () => {
    await writeVersion('nsfw', '1.9.0');
    await writeVersion('nsfw', '1.10.0');
    await writeVersion('nsfw', '1.10.0-rc.1');
    const resolved = await new ModelRegistry({ root }).resolve('nsfw');
    expect(resolved.version).toBe('1.10.0');
    expect(resolved.live).toBe(true);
    expect(resolved.location).toBe(path.join(root, 'nsfw', '1.10.0'));
    expect(resolved.manifest.output).toEqual({ kind: 'classification', labels: ['cat', 'dog'], activation: 'softmax' });
    expect(resolved.manifest.input?.channelOrder).toBe('rgb');
  });

  it('follows LIVE, and still resolves other versions by name', async () => {
    await writeVersion('nsfw', '1');
    await writeVersion('nsfw', '2');
    await writeFile(path.join(root, 'nsfw', 'LIVE'), '1\n');
    const registry = new ModelRegistry({ root });
    expect((await registry.resolve('nsfw')).version).toBe('1');
    const two = await registry.resolve('nsfw', '2');
    expect(two.version).toBe('2');
    expect(two.live).toBe(false);
  });

  it.each([
    ['unknown model', 'nope', undefined],
    ['unknown version', 'nsfw', '9.9.9'],
    ['name that is not a folder name', '../etc', undefined],
    ['version with a path in it', 'nsfw', '../../x'],
  ])('answers MODEL_NOT_FOUND for an %s', async (_case, name, version) => {
    await writeVersion('nsfw', '1.0.0');
    expect(await codeOf(new ModelRegistry({ root }).resolve(name, version))).toBe('MODEL_NOT_FOUND');
  });

  it.each([
    ['a manifest that fails the schema', async () => writeFile(path.join(root, 'nsfw', '1.0.0', 'manifest.json'), JSON.stringify({ name: 'nsfw' })), 'invalid-manifest'],
    ['a manifest that is not JSON', async () => writeFile(path.join(root, 'nsfw', '1.0.0', 'manifest.json'), '{'), 'invalid-manifest'],
    ['no manifest', async () => rm(path.join(root, 'nsfw', '1.0.0', 'manifest.json')), 'missing-manifest'],
    ['a manifest naming another version', async () => writeFile(path.join(root, 'nsfw', '1.0.0', 'manifest.json'), JSON.stringify(manifestFor('nsfw', '2.0.0'))), 'manifest-mismatch'],
    ['LIVE naming a missing version', async () => writeFile(path.join(root, 'nsfw', 'LIVE'), '3.0.0'), 'invalid-live'],
  ])('answers MODEL_NOT_READY for %s', async (_case, breakIt, reason) => {
    await writeVersion('nsfw', '1.0.0');
    await breakIt();
    const error = await new ModelRegistry({ root }).resolve('nsfw').catch((e: unknown) => e);
    expect((error as AppError).code).toBe('MODEL_NOT_READY');
    expect(modelProblemOf(error)).toBe(reason);
  });

  it('rejects meanStd scaling without one value per channel', async () => {
    await writeVersion('nsfw', '1.0.0', { input: { width: 2, height: 2, channels: 3, resize: 'cover', scale: { mode: 'meanStd', mean: [0.5], std: [0.5] } } });
    const error = await new ModelRegistry({ root }).resolve('nsfw').catch((e: unknown) => e);
    expect(modelProblemOf(error)).toBe('invalid-manifest');
    expect(((error as AppError).details as { issues: Array<{ path: string }> }).issues.map((i) => i.path)).toEqual(['input.scale.mean', 'input.scale.std']);
  });

  it('follows a symlinked version folder', async () => {
    const real = await writeVersion('other', '1.0.0');
    await mkdir(path.join(root, 'nsfw'));
    await symlink(real, path.join(root, 'nsfw', '1.0.0'));
    // The manifest still names model "other": a copy must be renamed, a symlink too.
    expect(modelProblemOf(await new ModelRegistry({ root }).resolve('nsfw').catch((e: unknown) => e))).toBe('manifest-mismatch');
    expect((await new ModelRegistry({ root }).resolve('other')).version).toBe('1.0.0');
  });
});

describe('ModelRegistry.list', () => {
  it('lists models with servable versions, the live one, and the broken ones apart', async () => {
    await writeVersion('nsfw', '1.0.0');
    await writeVersion('nsfw', '2.0.0');
    await mkdir(path.join(root, 'nsfw', '3.0.0'));
    await mkdir(path.join(root, 'nsfw', '.4.0.0.tmp'));
    await writeVersion('mnist', 'v2');
    await mkdir(path.join(root, 'not a model'));
    const models = await new ModelRegistry({ root }).list();
    expect(models.map((m) => m.name)).toEqual(['mnist', 'nsfw']);
    const nsfw = models[1];
    expect(nsfw?.versions.map((v) => v.version)).toEqual(['1.0.0', '2.0.0']);
    // 3.0.0 is the highest folder but has no manifest: nothing is live until it is fixed or LIVE says otherwise.
    expect(nsfw?.liveVersion).toBeNull();
    expect(nsfw?.problems).toEqual([{ version: '3.0.0', reason: 'missing-manifest', message: expect.any(String) }]);
  });

  it('answers an empty list for a missing root', async () => {
    expect(await new ModelRegistry({ root: path.join(root, 'absent') }).list()).toEqual([]);
  });

  it('names the same models as list, remote ones too, without reading a manifest', async () => {
    await writeVersion('nsfw', '1.0.0');
    await mkdir(path.join(root, 'broken', '1.0.0'), { recursive: true }); // no manifest: still a model, with a problem
    await mkdir(path.join(root, '.staging'));
    await mkdir(path.join(root, 'not a model'));
    const registry = new ModelRegistry({ root, remote: { faraway: 'http://127.0.0.1:9/m/model.json' } });
    expect(await registry.names()).toEqual(['broken', 'faraway', 'nsfw']);
    expect(await new ModelRegistry({ root: path.join(root, 'absent') }).names()).toEqual([]);
  });
});

describe('ModelRegistry.setLive', () => {
  it('writes LIVE atomically and leaves no temp file', async () => {
    await writeVersion('nsfw', '1.0.0');
    await writeVersion('nsfw', '2.0.0');
    const registry = new ModelRegistry({ root });
    await registry.setLive('nsfw', '1.0.0');
    expect(await readFile(path.join(root, 'nsfw', 'LIVE'), 'utf8')).toBe('1.0.0\n');
    expect((await registry.resolve('nsfw')).version).toBe('1.0.0');
    expect((await readdir(path.join(root, 'nsfw'))).sort()).toEqual(['1.0.0', '2.0.0', 'LIVE']);
  });

  it('refuses a version that does not resolve', async () => {
    await writeVersion('nsfw', '1.0.0');
    expect(await codeOf(new ModelRegistry({ root }).setLive('nsfw', '2.0.0'))).toBe('MODEL_NOT_FOUND');
    await mkdir(path.join(root, 'nsfw', '2.0.0'));
    expect(await codeOf(new ModelRegistry({ root }).setLive('nsfw', '2.0.0'))).toBe('MODEL_NOT_READY');
  });
});

describe('computeModelHash', () => {
  it('changes when a shard changes and ignores files model.json does not name', async () => {
    const folder = await writeVersion('nsfw', '1.0.0');
    const before = await computeModelHash(folder);
    await writeFile(path.join(folder, 'notes.txt'), 'hello');
    expect(await computeModelHash(folder)).toBe(before);
    await writeFile(path.join(folder, 'w.bin'), Buffer.from([9]));
    expect(await computeModelHash(folder)).not.toBe(before);
  });

  it.each([
    ['a missing shard', { modelTopology: {}, weightsManifest: [{ paths: ['absent.bin'], weights: [] }] }, 'missing-weights'],
    ['a shard path leaving the folder', { modelTopology: {}, weightsManifest: [{ paths: ['../w.bin'], weights: [] }] }, 'invalid-model-json'],
    ['a weightsManifest that is not an array', { modelTopology: {}, weightsManifest: {} }, 'invalid-model-json'],
  ])('answers MODEL_NOT_READY for %s', async (_case, modelJson, reason) => {
    const folder = await writeVersion('nsfw', '1.0.0');
    await writeFile(path.join(folder, 'model.json'), JSON.stringify(modelJson));
    expect(modelProblemOf(await computeModelHash(folder).catch((e: unknown) => e))).toBe(reason);
  });
});

describe('remote models', () => {
  let server: Server;
  let baseUrl: string;
  const served = new Map<string, string>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      const body = served.get(req.url ?? '');
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
      res.end(body ?? '');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads the manifest beside a remote model.json', async () => {
    served.set('/models/face/manifest.json', JSON.stringify(manifestFor('face', '3.1.0')));
    const registry = new ModelRegistry({ root, remote: { face: `${baseUrl}/models/face/model.json` } });
    const resolved = await registry.resolve('face');
    expect(resolved).toMatchObject({ name: 'face', version: '3.1.0', location: `${baseUrl}/models/face/model.json`, live: true });
    expect(await codeOf(registry.resolve('face', '3.0.0'))).toBe('MODEL_NOT_FOUND');
    expect((await registry.list()).map((m) => [m.name, m.liveVersion, m.remote])).toEqual([['face', '3.1.0', true]]);
    expect(await codeOf(registry.setLive('face', '3.1.0'))).toBe('CONFLICT');
  });

  it('answers MODEL_NOT_READY fetch-failed when the host has no manifest', async () => {
    const registry = new ModelRegistry({ root, remote: { gone: `${baseUrl}/gone/model.json` } });
    expect(modelProblemOf(await registry.resolve('gone').catch((e: unknown) => e))).toBe('fetch-failed');
    expect((await registry.list())[0]?.problems[0]?.reason).toBe('fetch-failed');
  });
});

describe('ModelRegistry.publish', () => {
  const modelJson = { path: 'model.json', bytes: Buffer.from(JSON.stringify({ format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [3], dtype: 'bool' }] }] })) };
  const modelJsonNaming = (paths: string[], bytes = 3) => ({
    path: 'model.json',
    bytes: Buffer.from(JSON.stringify({ format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths, weights: [{ name: 'w', shape: [bytes], dtype: 'bool' }] }] })),
  });
  const shard = { path: 'w.bin', bytes: Buffer.from([9, 8, 7]) };
  const manifest = {
    format: 'layers' as const,
    input: { width: 2, height: 2, channels: 3 as const, resize: 'fill' as const, scale: { mode: 'divide' as const, divisor: 255 } },
    output: { kind: 'classification' as const, labels: ['cat', 'dog'], activation: 'softmax' as const },
  };

  it('writes a version with its hash, makes it live on request, and is idempotent for the same files', async () => {
    const registry = new ModelRegistry({ root });
    const first = await registry.publish({ name: 'pets', version: '2.0.0', files: [modelJson, shard], manifest, setLive: true });
    expect(first.status).toBe('written');
    expect(first.model.manifest.sha256).toBe(await computeModelHash(path.join(root, 'pets', '2.0.0')));
    expect((await registry.resolve('pets')).version).toBe('2.0.0');
    expect((await registry.publish({ name: 'pets', version: '2.0.0', files: [modelJson, shard], manifest })).status).toBe('unchanged');
    // No temp folders left behind.
    expect((await readdir(path.join(root, 'pets'))).sort()).toEqual(['2.0.0', 'LIVE']);
  });

  it.each([
    ['other files under an existing version', { version: '2.0.0', files: [modelJson, { path: 'w.bin', bytes: Buffer.from([1, 2, 3]) }] }, 'CONFLICT'],
    ['a shard path with a NUL byte', { files: [modelJsonNaming(['w\u0000.bin']), { path: 'w\u0000.bin', bytes: Buffer.from([1, 2, 3]) }] }, 'VALIDATION_FAILED'],
    ['a shard path that is the folder of another', { files: [modelJsonNaming(['a', 'a/b'], 2), { path: 'a', bytes: Buffer.from([1]) }, { path: 'a/b', bytes: Buffer.from([1]) }] }, 'VALIDATION_FAILED'],
    ['a percent-encoded dot segment', { files: [modelJsonNaming(['%2e%2e/w.bin']), { path: '%2e%2e/w.bin', bytes: Buffer.from([1, 2, 3]) }] }, 'VALIDATION_FAILED'],
    ['shards smaller than their weights', { files: [modelJsonNaming(['w.bin'], 4), shard] }, 'VALIDATION_FAILED'],
    ['a JSON document that is no model', { files: [{ path: 'model.json', bytes: Buffer.from('{"status":"ok","checks":{"redis":"ok"}}') }] }, 'VALIDATION_FAILED'],
    ['a model.json without weights', { files: [{ path: 'model.json', bytes: Buffer.from('{"modelTopology":{}}') }] }, 'VALIDATION_FAILED'],
    ['a shard model.json does not name', { files: [modelJson, shard, { path: 'extra.bin', bytes: Buffer.from([1]) }] }, 'VALIDATION_FAILED'],
    ['a bad version', { version: '../x' }, 'VALIDATION_FAILED'],
    ['a path leaving the folder', { files: [modelJson, { path: '../w.bin', bytes: Buffer.from([1]) }] }, 'VALIDATION_FAILED'],
    ['no model.json first', { files: [shard, modelJson] }, 'VALIDATION_FAILED'],
    ['a manifest.json among the files', { files: [modelJson, { path: 'manifest.json', bytes: Buffer.from('{}') }] }, 'VALIDATION_FAILED'],
    ['a graph model.json under a layers manifest', { files: [{ path: 'model.json', bytes: Buffer.from('{"format":"graph-model","modelTopology":{}}') }] }, 'VALIDATION_FAILED'],
    ['an invalid manifest', { manifest: { ...manifest, output: { kind: 'classification', labels: [], activation: 'softmax' } } }, 'VALIDATION_FAILED'],
  ] as const)('refuses %s', async (_case, overrides, code) => {
    const registry = new ModelRegistry({ root });
    await registry.publish({ name: 'pets', version: '2.0.0', files: [modelJson, shard], manifest });
    expect(await codeOf(registry.publish({ name: 'pets', version: '3.0.0', files: [modelJson, shard], manifest, ...overrides } as never))).toBe(code);
    // Nothing stored: no new version, no staging folder left.
    expect((await readdir(path.join(root, 'pets'))).sort()).toEqual(['2.0.0']);
    expect(await readdir(path.join(root, '.staging'))).toEqual([]);
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])('refuses the weight dtype "%s" as no TF.js dtype', (dtype) => {
    const json = { format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [3], dtype }] }] };
    let refusal: unknown;
    try {
      tfjsWeightGroups(json, 'layers');
    } catch (error) {
      refusal = error;
    }
    expect((refusal as AppError).details).toMatchObject({ reason: 'not_a_model' });
  });

  it('hashes a SavedModel folder over saved_model.pb and its variables', async () => {
    const registry = new ModelRegistry({ root });
    const files = [
      { path: 'saved_model.pb', bytes: Buffer.from('graph') },
      { path: 'variables/variables.data-00000-of-00001', bytes: Buffer.from([1, 2]) },
      { path: 'variables/variables.index', bytes: Buffer.from([3]) },
    ];
    const published = await registry.publish({ name: 'saved', version: '1', files, manifest: { ...manifest, format: 'saved_model' } });
    expect(published.model.manifest.format).toBe('saved_model');
    expect(await computeModelHash(published.model.location, 'saved_model')).toBe(published.model.manifest.sha256);
  });
});

describe('ONNX models with external data (model.onnx + model.onnx.data)', () => {
  const external = tinyOnnxModel({ externalData: 'model.onnx.data' });
  const files = [
    { path: 'model.onnx', bytes: external.model },
    { path: 'model.onnx.data', bytes: external.data },
  ];

  it('reads the external data files a model names, with the bytes its tensors reach', () => {
    expect(inspectOnnxModel(external.model).externalData).toEqual([{ path: 'model.onnx.data', minBytes: 96 }]);
    expect(inspectOnnxModel(tinyOnnxModel().model).externalData).toEqual([]);
  });

  it('publishes model.onnx with its external data, hashed together, and reads both back', async () => {
    const registry = new ModelRegistry({ root });
    const published = await registry.publish({ name: 'tiny', version: '1.0.0', files, manifest: tinyOnnxManifest, setLive: true });
    expect(published.status).toBe('written');
    expect((await readdir(published.model.location)).sort()).toEqual(['manifest.json', 'model.onnx', 'model.onnx.data']);
    expect((await readOnnxFiles(published.model.location)).map((file) => file.path)).toEqual(['model.onnx', 'model.onnx.data']);
    expect(await computeModelHash(published.model.location, 'onnx')).toBe(published.model.manifest.sha256);
    // The same model in one file is another version's worth of bytes: a different hash.
    const inline = await registry.publish({ name: 'tiny', version: '2.0.0', files: [{ path: 'model.onnx', bytes: tinyOnnxModel().model }], manifest: tinyOnnxManifest });
    expect(inline.model.manifest.sha256).not.toBe(published.model.manifest.sha256);
  });

  it('publishes a folder holding both, and the registry folder then holds both', async () => {
    const registry = new ModelRegistry({ root });
    const folder = await registry.createStagingFolder();
    for (const file of files) await writeFile(path.join(folder, file.path), file.bytes);
    const published = await registry.publishFolder({ name: 'tiny', version: '1.0.0', folder, manifest: tinyOnnxManifest });
    expect((await readdir(published.model.location)).sort()).toEqual(['manifest.json', 'model.onnx', 'model.onnx.data']);
  });

  it.each([
    ['model.onnx without its data file', [files[0]!], 'VALIDATION_FAILED'],
    ['a data file shorter than its tensors', [files[0]!, { path: 'model.onnx.data', bytes: external.data.subarray(0, 40) }], 'VALIDATION_FAILED'],
    ['a file the model does not name', [...files, { path: 'notes.txt', bytes: Buffer.from('x') }], 'VALIDATION_FAILED'],
  ] as const)('refuses %s, and stores nothing', async (_case, given, code) => {
    const registry = new ModelRegistry({ root });
    expect(await codeOf(registry.publish({ name: 'tiny', version: '1.0.0', files: [...given], manifest: tinyOnnxManifest }))).toBe(code);
    await expect(registry.resolve('tiny')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    // Refused before or after staging: no staging folder is left either way.
    expect(await readdir(path.join(root, '.staging')).catch(() => [])).toEqual([]);
  });

  it('refuses a folder whose model.onnx lost its data file, naming the file (details.reason missing_external_data)', async () => {
    const registry = new ModelRegistry({ root });
    const folder = await registry.createStagingFolder();
    await writeFile(path.join(folder, 'model.onnx'), external.model);
    const error = await registry.publishFolder({ name: 'tiny', version: '1.0.0', folder, manifest: tinyOnnxManifest }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', details: { reason: 'missing_external_data', files: ['model.onnx.data'] } });
  });

  it.each([['../w.data'], ['/etc/passwd'], ['model.onnx'], ['manifest.json']])('refuses an external data location %j', async (location) => {
    const registry = new ModelRegistry({ root });
    const model = tinyOnnxModel({ externalData: location }).model;
    expect(await codeOf(registry.publish({ name: 'tiny', version: '1.0.0', files: [{ path: 'model.onnx', bytes: model }], manifest: tinyOnnxManifest }))).toBe('VALIDATION_FAILED');
    const folder = await registry.createStagingFolder();
    await writeFile(path.join(folder, 'model.onnx'), model);
    expect(await codeOf(registry.publishFolder({ name: 'tiny', version: '1.0.0', folder, manifest: tinyOnnxManifest }))).toBe('VALIDATION_FAILED');
  });

  it('does not publish a version whose verify hook throws', async () => {
    const registry = new ModelRegistry({ root });
    const seen: string[] = [];
    const verify = async (folder: string) => {
      seen.push(...(await readdir(folder)).sort());
      throw new AppError('MODEL_NOT_READY', 'cannot load');
    };
    expect(await codeOf(registry.publish({ name: 'tiny', version: '1.0.0', files, manifest: tinyOnnxManifest, setLive: true, verify }))).toBe('MODEL_NOT_READY');
    expect(seen).toEqual(['manifest.json', 'model.onnx', 'model.onnx.data']);
    await expect(registry.resolve('tiny')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });
});
