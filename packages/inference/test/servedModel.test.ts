import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '@inferq/core';
import { imageToInput, pixelsToInput, preparedToInput, validateImage } from '@inferq/images';
import {
  imageInputOf,
  computeModelHash,
  modelProblemOf,
  ModelRegistry,
  type ModelManifest,
  type ResolvedModel,
} from '@inferq/models';
import {
  decodeOutput,
  loadModel,
  readModelArtifacts,
  softmax,
  startTfjsBackend,
  type BackendInfo,
  type ServedModel,
} from '../src/index.ts';
import { importNsfwModel, nsfwLabels } from '../scripts/lib/importNsfwModel.ts';

const W = 400;
const H = 300;
/** Flat colour shapes on white: the model calls this a drawing. */
const shapesSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="100%" height="100%" fill="white"/><circle cx="120" cy="150" r="80" fill="red"/><rect x="220" y="60" width="140" height="180" fill="blue"/><polygon points="200,20 260,120 140,120" fill="green"/></svg>`;
/** A black outline, a stroke and a word on white: the model calls this neutral. */
const outlineSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="100%" height="100%" fill="white"/><circle cx="200" cy="150" r="100" fill="none" stroke="black" stroke-width="6"/><line x1="20" y1="20" x2="380" y2="280" stroke="black" stroke-width="6"/><text x="40" y="280" font-size="40">Hello</text></svg>`;

/** Flat colours on a beige ground: a drawing, though less plainly than `shapesSvg`. */
const beigeDrawingSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><rect width="640" height="480" fill="#f4efe1"/><rect x="60" y="60" width="220" height="160" fill="#d2452f"/><circle cx="450" cy="170" r="110" fill="#2f6fd2"/><polygon points="120,420 260,260 400,420" fill="#3fa34d"/><rect x="430" y="330" width="160" height="90" rx="20" fill="#1b1b1b"/></svg>`;

/** Colour gradients with per-pixel noise (seeded), as JPEG: what smoothing changes most. */
function photoLikeJpeg(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  let seed = 7;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return (seed / 2 ** 31 - 0.5) * 48;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const n = noise();
      pixels[i] = Math.max(0, Math.min(255, 40 + (160 * x) / width + n));
      pixels[i + 1] = Math.max(0, Math.min(255, 30 + (120 * y) / height + n));
      pixels[i + 2] = Math.max(0, Math.min(255, 200 - (140 * x * y) / (width * height) + n));
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** nsfwjs's own classifier over our model files (its bundled loader decodes base64 slowly). */
async function loadNsfwjs() {
  const { load } = await import('nsfwjs/core');
  const artifacts = await readModelArtifacts(resolved.location);
  const handler: tf.io.IOHandler = {
    load: () =>
      tf.io.getModelArtifactsForJSON(artifacts.modelJson, async (manifest) => [
        manifest.flatMap((group) => group.weights),
        Buffer.concat(artifacts.files.slice(1).map((f) => f.bytes)).buffer,
      ]),
  };
  return load(handler as unknown as string);
}

let root: string;
let backend: BackendInfo;
/** The engines these tests load on: TF.js only. */
const engines = () => ({ tfjs: backend, onnx: null });
let resolved: ResolvedModel;
let model: ServedModel;
const images: Record<string, Float32Array> = {};

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'inferq-models-'));
  await importNsfwModel({ outDir: root });
  backend = await startTfjsBackend({ preferred: 'wasm', logger: { info() {}, warn() {} } });
  resolved = await new ModelRegistry({ root }).resolve('nsfw');
  model = await loadModel(resolved.location, resolved.manifest, { engines: engines() });
  await model.warmUp();
  for (const [name, svg] of Object.entries({ shapes: shapesSvg, outline: outlineSvg })) {
    images[name] = await imageToInput(await sharp(Buffer.from(svg)).png().toBuffer(), imageInputOf(resolved.manifest));
  }
  images.noise = Float32Array.from({ length: model.inputSize }, (_, i) => ((i * 7919) % 256) / 255);
  images.grey = new Float32Array(model.inputSize).fill(0.5);
});

afterAll(async () => {
  model?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('importNsfwModel', () => {
  it('writes model.json, the shard and a manifest whose hash matches, and marks it live', async () => {
    const version = resolved.version;
    expect((await readdir(path.join(root, 'nsfw'))).sort()).toEqual([version, 'LIVE']);
    expect((await readdir(resolved.location)).sort()).toEqual([
      'group1-shard1of1.bin',
      'manifest.json',
      'model.json',
      'model.onnx',
    ]);
    expect(await readFile(path.join(root, 'nsfw', 'LIVE'), 'utf8')).toBe(`${version}\n`);
    expect(resolved.manifest.sha256).toBe(await computeModelHash(resolved.location));
    expect(resolved.manifest.output).toEqual({
      kind: 'classification',
      labels: [...nsfwLabels],
      activation: 'softmax',
    });
  });

  it('leaves an identical version alone and refuses to overwrite a different one', async () => {
    const again = await importNsfwModel({ outDir: root });
    expect(again).toMatchObject({ status: 'unchanged', sha256: resolved.manifest.sha256, live: true });

    const other = await mkdtemp(path.join(tmpdir(), 'inferq-models-'));
    try {
      await importNsfwModel({ outDir: other });
      await writeFile(path.join(other, 'nsfw', resolved.version, 'group1-shard1of1.bin'), Buffer.from([0]));
      const error = await importNsfwModel({ outDir: other }).catch((e: unknown) => e);
      expect((error as AppError).code).toBe('CONFLICT');
      expect(await importNsfwModel({ outDir: other, force: true })).toMatchObject({ status: 'written' });
      expect(await computeModelHash(path.join(other, 'nsfw', resolved.version))).toBe(resolved.manifest.sha256);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('gives the same scores as nsfwjs itself on the same pixels, so labels and scaling match', async () => {
    const nsfwjs = await loadNsfwjs();
    try {
      const png = await sharp(Buffer.from(shapesSvg)).png().toBuffer();
      // nsfwjs scales and (when needed) resizes itself; hand it pixels already at 224×224.
      const pixels = await sharp(png)
        .resize(224, 224, { fit: 'fill', kernel: 'nearest' })
        .removeAlpha()
        .raw()
        .toBuffer();
      const theirs = tf.tidy(() => tf.tensor3d(Int32Array.from(pixels), [224, 224, 3], 'int32'));
      const predictions = await nsfwjs.classify(theirs as unknown as tf.Tensor3D, 5);
      theirs.dispose();
      const [ours] = await model.predictBatch([pixelsToInput(pixels, imageInputOf(resolved.manifest))]);
      const decoded = decodeOutput(ours as number[], resolved.manifest);
      for (const { className, probability } of predictions) {
        expect(decoded.scores[nsfwLabels.indexOf(className as (typeof nsfwLabels)[number])]).toBeCloseTo(
          probability,
          5,
        );
      }
    } finally {
      nsfwjs.dispose();
    }
  });

  const photos = ['astronaut.jpg', 'chelsea.jpg', 'coffee.jpg', 'rocket.jpg'];
  const photo = (file: string) => readFile(path.join(import.meta.dirname, 'fixtures', 'photos', file));

  /** nsfwjs's classify() on the full-size decode, as one score per label in the model's order. */
  async function nsfwjsScores(nsfwjs: Awaited<ReturnType<typeof loadNsfwjs>>, bytes: Buffer): Promise<number[]> {
    const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const full = tf.tensor3d(Int32Array.from(data), [info.height, info.width, 3], 'int32');
    const predictions = await nsfwjs.classify(full as unknown as tf.Tensor3D, 5);
    full.dispose();
    const scores = new Array<number>(nsfwLabels.length).fill(Number.NaN);
    for (const { className, probability } of predictions)
      scores[nsfwLabels.indexOf(className as (typeof nsfwLabels)[number])] = probability;
    return scores;
  }

  it.each([
    ...photos.map((file) => [file, () => photo(file)] as const),
    ['a drawing', () => sharp(Buffer.from(beigeDrawingSvg)).jpeg({ quality: 92 }).toBuffer()] as const,
    ['a noisy photo-like image', () => photoLikeJpeg(640, 480)] as const,
    // Other formats: their check decodes every pixel, so the pixels are made there by default.
    [
      'chelsea.jpg as a PNG',
      async () =>
        sharp(await photo('chelsea.jpg'))
          .png()
          .toBuffer(),
    ] as const,
    [
      'coffee.jpg as a WebP',
      async () =>
        sharp(await photo('coffee.jpg'))
          .webp({ quality: 85 })
          .toBuffer(),
    ] as const,
  ])(
    'scores %s within 0.01 of nsfwjs classify() per class, decoded by the worker or from the pixels stored at submit',
    async (_case, make) => {
      const nsfwjs = await loadNsfwjs();
      try {
        const jpeg = await make();
        const theirs = await nsfwjsScores(nsfwjs, jpeg);
        const isJpeg = jpeg[0] === 0xff && jpeg[1] === 0xd8;
        const stored = (
          await validateImage(
            jpeg,
            {},
            { pixels: resolved.manifest.input, preparePixels: isJpeg ? 'always' : 'worthwhile' },
          )
        ).pixels;
        const prepared = stored && preparedToInput(stored, imageInputOf(resolved.manifest));
        expect(prepared).toBeInstanceOf(Float32Array);
        const outputs = await model.predictBatch([
          await imageToInput(jpeg, imageInputOf(resolved.manifest)),
          prepared as Float32Array,
        ]);
        for (const vector of outputs) {
          const { scores } = decodeOutput(vector, resolved.manifest);
          scores.forEach((score, i) => expect(Math.abs(score - (theirs[i] as number))).toBeLessThanOrEqual(0.01));
        }
      } finally {
        nsfwjs.dispose();
      }
    },
  );

  it('rewrites a manifest an older importer wrote, keeping the files and createdAt', async () => {
    const file = path.join(resolved.location, 'manifest.json');
    const original = await readFile(file, 'utf8');
    try {
      const old = JSON.parse(original) as { createdAt: string; input: Record<string, unknown> };
      delete old.input.resizeKernel;
      await writeFile(file, JSON.stringify(old));
      expect(await importNsfwModel({ outDir: root })).toMatchObject({ status: 'updated' });
      const rewritten = JSON.parse(await readFile(file, 'utf8')) as typeof old;
      expect(rewritten.input.resizeKernel).toBe('alignCorners');
      expect(rewritten.createdAt).toBe(old.createdAt);
      expect(await importNsfwModel({ outDir: root })).toMatchObject({ status: 'unchanged' });
    } finally {
      await writeFile(file, original);
    }
  });
});

describe('ServedModel on the wasm backend', () => {
  it('runs on wasm with SIMD', () => {
    expect(backend).toMatchObject({ name: 'wasm', tfjsBackend: 'wasm', wasm: { simd: true } });
    expect(tf.getBackend()).toBe('wasm');
    expect(model.backend).toBe(backend);
  });

  it.each([
    ['shapes', 'Drawing'],
    ['outline', 'Neutral'],
  ])('classifies the %s image as %s, with five scores that sum to 1', async (image, label) => {
    const [vector] = await model.predictBatch([images[image] as Float32Array]);
    const { scores, top } = decodeOutput(vector as number[], resolved.manifest);
    expect(scores).toHaveLength(5);
    expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(top[0]?.label).toBe(label);
    expect(top[0]?.score).toBeGreaterThan(0.8);
    expect(top.map((t) => t.score)).toEqual([...top.map((t) => t.score)].sort((a, b) => b - a));
  });

  it('keeps the tensor count flat over 50 predictions', async () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) await model.predictBatch([images.shapes as Float32Array]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('answers the same scores for a batch of 4 as for 4 single predictions', async () => {
    const inputs = ['shapes', 'outline', 'noise', 'grey'].map((name) => images[name] as Float32Array);
    const batched = await model.predictBatch(inputs);
    expect(batched).toHaveLength(4);
    for (const [i, input] of inputs.entries()) {
      const [single] = await model.predictBatch([input]);
      (single as number[]).forEach((score, j) =>
        expect(Math.abs(score - (batched[i]?.[j] as number))).toBeLessThan(1e-4),
      );
    }
    // Different inputs, different outputs: the batch was not one input repeated.
    expect(batched[0]).not.toEqual(batched[1]);
  });

  it('answers INFERENCE_FAILED for an input of the wrong length, and [] for no input', async () => {
    const error = await model.predictBatch([new Float32Array(10)]).catch((e: unknown) => e);
    expect((error as AppError).code).toBe('INFERENCE_FAILED');
    expect(await model.predictBatch([])).toEqual([]);
  });

  it('answers MODEL_NOT_READY output-mismatch when the manifest has the wrong number of labels', async () => {
    const manifest: ModelManifest = {
      ...resolved.manifest,
      output: { kind: 'classification', labels: ['a', 'b', 'c'], activation: 'softmax' },
    };
    const wrong = await loadModel(resolved.location, manifest, { engines: engines() });
    try {
      expect(modelProblemOf(await wrong.warmUp().catch((e: unknown) => e))).toBe('output-mismatch');
    } finally {
      wrong.dispose();
    }
    const error = await wrong.predictBatch([images.grey as Float32Array]).catch((e: unknown) => e);
    expect((error as AppError).code).toBe('MODEL_NOT_READY');
  });
});

describe('loadModel from http', () => {
  let server: Server;
  let baseUrl: string;
  const requests: string[] = [];

  beforeAll(async () => {
    // Serves the registry root read-only, as a static file host would.
    server = createServer(async (req, res) => {
      requests.push(req.url ?? '');
      const file = path.join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      if (!file.startsWith(root + path.sep)) return void res.writeHead(403).end();
      try {
        const body = await readFile(file);
        res
          .writeHead(200, { 'content-type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream' })
          .end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('loads the model by the URL of its model.json and scores like the folder copy', async () => {
    const url = `${baseUrl}/nsfw/${resolved.version}/model.json`;
    const remote = await new ModelRegistry({ root: path.join(root, 'none'), remote: { nsfw: url } }).resolve('nsfw');
    expect(remote.manifest.sha256).toBe(resolved.manifest.sha256);
    const overHttp = await loadModel(remote.location, remote.manifest, { engines: engines() });
    try {
      const [a] = await overHttp.predictBatch([images.shapes as Float32Array]);
      const [b] = await model.predictBatch([images.shapes as Float32Array]);
      expect(a).toEqual(b);
      expect(requests).toEqual(
        expect.arrayContaining([
          `/nsfw/${resolved.version}/model.json`,
          `/nsfw/${resolved.version}/group1-shard1of1.bin`,
        ]),
      );
    } finally {
      overHttp.dispose();
    }
  });

  it('answers MODEL_NOT_READY missing-model-json for a URL that is not there', async () => {
    const error = await loadModel(`${baseUrl}/nsfw/0.0.0/model.json`, resolved.manifest, { engines: engines() }).catch(
      (e: unknown) => e,
    );
    expect(modelProblemOf(error)).toBe('missing-model-json');
  });
});

describe('loadModel with broken files', () => {
  let broken: string;

  beforeAll(async () => {
    broken = await mkdtemp(path.join(tmpdir(), 'inferq-broken-'));
  });

  afterAll(async () => {
    await rm(broken, { recursive: true, force: true });
  });

  async function copyWith(name: string, change: (folder: string) => Promise<void>): Promise<string> {
    const folder = path.join(broken, name);
    await cp(resolved.location, folder, { recursive: true });
    await change(folder);
    return folder;
  }

  it.each([
    [
      'model.json cut short',
      (f: string) => writeFile(path.join(f, 'model.json'), '{"modelTopology": {"keras_version"'),
      { verifyHash: false },
      'invalid-model-json',
    ],
    [
      'model.json without a topology',
      (f: string) => writeFile(path.join(f, 'model.json'), '{"weightsManifest": []}'),
      { verifyHash: false },
      'invalid-model-json',
    ],
    [
      'a topology tfjs cannot build',
      (f: string) =>
        writeFile(path.join(f, 'model.json'), '{"modelTopology": {"model_config": {"class_name": "Nope"}}}'),
      { verifyHash: false },
      'load-failed',
    ],
    ['the weight shard missing', (f: string) => rm(path.join(f, 'group1-shard1of1.bin')), {}, 'missing-weights'],
    [
      'a shard that changed',
      (f: string) => writeFile(path.join(f, 'group1-shard1of1.bin'), Buffer.alloc(16)),
      {},
      'hash-mismatch',
    ],
  ])('answers MODEL_NOT_READY for %s', async (name, change, options, reason) => {
    const folder = await copyWith(name.replaceAll(' ', '-'), change);
    const error = await loadModel(folder, resolved.manifest, { engines: engines(), ...options }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('MODEL_NOT_READY');
    expect(modelProblemOf(error)).toBe(reason);
  });

  it('answers MODEL_NOT_READY format-mismatch when the manifest says graph for a layers model', async () => {
    const error = await loadModel(
      resolved.location,
      { ...resolved.manifest, format: 'graph' },
      { engines: engines() },
    ).catch((e: unknown) => e);
    expect(modelProblemOf(error)).toBe('format-mismatch');
  });
});

describe('decodeOutput', () => {
  const manifest = {
    name: 'm',
    version: '1',
    output: { kind: 'classification', labels: ['a', 'b', 'c'], activation: 'none' },
  } as const;

  it('gives logits as they are for activation none, ranked', () => {
    const { scores, top } = decodeOutput(
      [1, 3, -2],
      { ...manifest, output: { ...manifest.output, labels: ['a', 'b', 'c'] } },
      2,
    );
    expect(scores).toEqual([1, 3, -2]);
    expect(top).toEqual([
      { label: 'b', score: 3 },
      { label: 'a', score: 1 },
    ]);
  });

  it('applies softmax for activation logits and orders the top labels', () => {
    const { scores, top } = decodeOutput(
      [1, 3, 2],
      { ...manifest, output: { ...manifest.output, labels: ['a', 'b', 'c'], activation: 'logits' } },
      2,
    );
    expect(scores).toEqual(softmax([1, 3, 2]));
    expect(top.map((t) => t.label)).toEqual(['b', 'c']);
  });

  it('leaves probabilities and raw outputs as they are', () => {
    expect(
      decodeOutput([0.2, 0.5, 0.3], {
        ...manifest,
        output: { ...manifest.output, labels: ['a', 'b', 'c'], activation: 'softmax' },
      }).scores,
    ).toEqual([0.2, 0.5, 0.3]);
    expect(decodeOutput([5, -1], { name: 'm', version: '1', output: { kind: 'raw' } })).toEqual({
      scores: [5, -1],
      top: [],
    });
  });

  it('answers INFERENCE_FAILED when the vector does not match the labels', () => {
    expect(() =>
      decodeOutput([1, 2], { ...manifest, output: { ...manifest.output, labels: ['a', 'b', 'c'] } }),
    ).toThrow(AppError);
  });
});
