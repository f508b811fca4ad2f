import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ModelPool, startTfjsBackend, tensorMemory, type InferenceEngines } from '../src/index.ts';
import { ModelRegistry, readModelFiles, readModelManifest } from '@inferq/models';
import { mnistFixtureFolder } from '@inferq/training';

const logger = pino({ level: 'silent' });
let root: string;
let registry: ModelRegistry;
let pool: ModelPool;
let engines: InferenceEngines;

/**
 * Publishes the committed MNIST model under `version` (same weights, its own manifest), as `name`;
 * `withoutLimits` leaves out the manifest's batch limits.
 */
async function publishMnist(version: string, setLive = false, name = 'mnist', withoutLimits = false): Promise<string> {
  const { name: _n, version: _v, sha256: _s, limits, ...manifest } = await readModelManifest(mnistFixtureFolder);
  const published = await registry.publish({
    name,
    version,
    files: await readModelFiles(mnistFixtureFolder),
    manifest: withoutLimits ? manifest : { ...manifest, limits },
    setLive,
  });
  return published.model.location;
}

const input = new Float32Array(28 * 28).fill(0.5);

beforeAll(async () => {
  engines = {
    tfjs: await startTfjsBackend({ preferred: 'wasm', logger: { info: () => {}, warn: () => {} } }),
    onnx: null,
  };
});

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'inferq-pool-'));
  registry = new ModelRegistry({ root });
  await publishMnist('1.0.0', true);
  pool = new ModelPool({ registry, logger, engines, batching: { maxBatchSize: 4, maxDelayMs: 0 }, pinnedIdleMs: 0 });
  await pool.load(['mnist']);
});

afterEach(async () => {
  pool.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('ModelPool call size', () => {
  const pools: ModelPool[] = [];
  afterEach(() => {
    for (const created of pools.splice(0)) created.dispose();
  });

  /** A pool of its own over the same registry (batch 4 at most, call size `callSize`), serving `name`. */
  async function poolWithCallSize(callSize: number, name = 'digits'): Promise<ModelPool> {
    const created = new ModelPool({
      registry,
      logger,
      engines,
      batching: { maxBatchSize: 4, maxDelayMs: 0, callSize },
    });
    pools.push(created);
    await created.load([name]);
    return created;
  }

  // The MNIST weights under a manifest without `limits`: the pool's batching applies.
  beforeEach(() => publishMnist('1.0.0', true, 'digits', true));

  it("hands an image model's batch to its engine in calls of the call size, and shows it", async () => {
    const other = await poolWithCallSize(1);
    expect(other.describe()[0]?.batching).toEqual({ maxBatchSize: 4, maxDelayMs: 0, callSize: 1 });
    const lease = await other.acquire('digits');
    const single = (await lease.submit(input)).vector;
    // Four submitted at once make one batch of four, run as four calls of one.
    const results = await Promise.all(Array.from({ length: 4 }, () => lease.submit(input)));
    lease.release();
    expect(results.map((result) => result.batchSize)).toEqual([4, 4, 4, 4]);
    for (const result of results) expect(result.vector).toEqual(single);
  });

  it("gives the engine the whole batch for a call size at or above it, or a batch the model's manifest sets", async () => {
    expect((await poolWithCallSize(64)).describe()[0]?.batching.callSize).toBe(4);
    // MNIST's manifest sets its batch (32, 2 ms), sized as whole calls: the call size is not applied.
    expect((await poolWithCallSize(1, 'mnist')).describe()[0]?.batching).toEqual({ maxBatchSize: 32, maxDelayMs: 2 });
  });
});

describe('ModelPool hot swap', () => {
  it('switches to the new live version; a job holding the old one finishes on it; the old one is freed after', async () => {
    const tensorsWithOne = tensorMemory().numTensors;
    const oldLease = await pool.acquire('mnist');
    expect(oldLease.manifest.version).toBe('1.0.0');

    await publishMnist('1.1.0', true);
    await pool.checkForUpdates();
    const [described] = pool.describe();
    expect(described).toMatchObject({ name: 'mnist', version: '1.1.0', swap: null });
    // Both in memory while the old job runs: the new weights were loaded beside the old ones.
    expect(tensorMemory().numTensors).toBeGreaterThan(tensorsWithOne);

    const newLease = await pool.acquire('mnist');
    expect(newLease.manifest.version).toBe('1.1.0');
    const [oldResult, newResult] = await Promise.all([oldLease.submit(input), newLease.submit(input)]);
    expect(oldResult.vector).toHaveLength(10);
    expect(newResult.vector).toEqual(oldResult.vector); // same weights under both versions
    newLease.release();
    oldLease.release();
    // Disposal runs once the old version's batcher has closed.
    await vi.waitFor(() => expect(tensorMemory().numTensors).toBe(tensorsWithOne), { timeout: 10_000 });
  });

  it('keeps serving the old version when the new one fails to load, and reports why', async () => {
    const location = await publishMnist('1.2.0');
    await writeFile(path.join(location, 'group1-shard1of1.bin'), Buffer.alloc(16)); // corrupt after publishing
    await registry.setLive('mnist', '1.2.0');
    const tensorsBefore = tensorMemory().numTensors;
    await pool.checkForUpdates();

    const [described] = pool.describe();
    expect(described?.version).toBe('1.0.0');
    expect(described?.swap).toMatchObject({
      to: '1.2.0',
      state: 'failed',
      error: { code: 'MODEL_NOT_READY', reason: 'hash-mismatch' },
    });
    expect(tensorMemory().numTensors).toBe(tensorsBefore);
    const lease = await pool.acquire('mnist');
    expect(lease.manifest.version).toBe('1.0.0');
    expect((await lease.submit(input)).vector).toHaveLength(10);
    lease.release();

    // Setting LIVE back clears the failure.
    await registry.setLive('mnist', '1.0.0');
    await pool.checkForUpdates();
    expect(pool.describe()[0]?.swap).toBeNull();
  });

  it('serves a job pinned to a version that is not live by loading it on demand, and drops it when idle', async () => {
    await publishMnist('0.9.0');
    const tensorsBefore = tensorMemory().numTensors;
    const pinned = await pool.acquire('mnist', '0.9.0');
    expect(pinned.manifest.version).toBe('0.9.0');
    expect(pool.describe()[0]?.loaded).toEqual(['1.0.0', '0.9.0']);
    expect((await pinned.submit(input)).vector).toHaveLength(10);
    pinned.release();
    await pool.checkForUpdates(); // pinnedIdleMs is 0 here: the idle pinned version goes
    await vi.waitFor(() => expect(tensorMemory().numTensors).toBe(tensorsBefore), { timeout: 10_000 });
    expect(pool.describe()[0]?.loaded).toEqual(['1.0.0']);
  });

  it.each([
    ['an unknown version', 'mnist', '7.7.7', 'MODEL_NOT_FOUND'],
    ['a model this worker does not serve', 'nsfw', undefined, 'MODEL_NOT_FOUND'],
  ])('refuses %s', async (_case, name, version, code) => {
    await expect(pool.acquire(name, version)).rejects.toMatchObject({ code });
  });
});

/** Publishes the MNIST model as `name`@`version`; `broken`: its weights corrupted after publishing, so it cannot load. */
async function publishAs(
  name: string,
  version: string,
  options: { setLive?: boolean; broken?: boolean } = {},
): Promise<void> {
  const { name: _n, version: _v, sha256: _s, ...manifest } = await readModelManifest(mnistFixtureFolder);
  const published = await registry.publish({
    name,
    version,
    files: await readModelFiles(mnistFixtureFolder),
    manifest,
    setLive: false,
  });
  if (options.broken) await writeFile(path.join(published.model.location, 'group1-shard1of1.bin'), Buffer.alloc(16));
  if (options.setLive) await registry.setLive(name, version);
}

/** A listener that records what it hears; `removing` resolves once `release()` is called. */
function recorder() {
  const heard: string[] = [];
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    heard,
    release,
    listener: {
      added: (name: string) => void heard.push(`added ${name}`),
      removing: async (name: string) => {
        heard.push(`removing ${name}`);
        await released;
      },
    },
  };
}

describe('ModelPool follows the models of the registry', () => {
  let other: ModelPool | undefined;
  afterEach(() => {
    other?.dispose();
    other = undefined;
  });

  it('loads a model that failed at start once a fixed version is made live, and tells its listeners', async () => {
    await publishAs('digits', '1.0.0', { setLive: true, broken: true });
    other = new ModelPool({ registry, logger, engines, batching: { maxBatchSize: 4, maxDelayMs: 0 } });
    await other.load(['digits']);
    expect(other.describe()).toEqual([]);
    expect(other.failures()).toEqual([
      expect.objectContaining({ name: 'digits', version: '1.0.0', code: 'MODEL_NOT_READY' }),
    ]);
    await expect(other.acquire('digits')).rejects.toMatchObject({ code: 'MODEL_NOT_READY' });
    const { heard, listener } = recorder();
    other.subscribe(listener);

    await other.checkForUpdates(); // the same broken version: not tried again before swapRetryMs
    expect(heard).toEqual([]);
    await publishAs('digits', '1.0.1', { setLive: true });
    await other.checkForUpdates();
    expect(heard).toEqual(['added digits']);
    expect(other.describe()).toEqual([expect.objectContaining({ name: 'digits', version: '1.0.1' })]);
    expect(other.failures()).toEqual([]);
    const lease = await other.acquire('digits');
    expect((await lease.submit(input)).vector).toHaveLength(10);
    lease.release();
  });

  it('under `*`, loads a model published under a new name', async () => {
    other = new ModelPool({ registry, logger, engines, batching: { maxBatchSize: 4, maxDelayMs: 0 } });
    await other.load('*');
    const { heard, listener } = recorder();
    other.subscribe(listener);
    await publishAs('digits', '2.0.0', { setLive: true });
    await other.checkForUpdates();
    expect(heard).toEqual(['added digits']);
    expect(
      other
        .describe()
        .map((model) => model.name)
        .sort(),
    ).toEqual(['digits', 'mnist']);
    await other.checkForUpdates(); // loaded once
    expect(heard).toEqual(['added digits']);
  });

  it('drops a model gone from the registry only after its listeners stopped taking its jobs, and frees it', async () => {
    await publishAs('digits', '1.0.0', { setLive: true });
    const tensorsBefore = tensorMemory().numTensors;
    other = new ModelPool({ registry, logger, engines, batching: { maxBatchSize: 4, maxDelayMs: 0 } });
    await other.load(['digits']);
    const { heard, listener, release } = recorder();
    other.subscribe(listener);
    expect(other.serves('digits')).toBe(true);

    await rm(registry.modelFolder('digits'), { recursive: true });
    await other.checkForUpdates();
    await vi.waitFor(() => expect(heard).toEqual(['removing digits']));
    expect(other.serves('digits')).toBe(false); // no queue may be taken for it any more
    // Until the listener has let go of its queue, the jobs it holds still get the model.
    const held = await other.acquire('digits');
    release();
    await vi.waitFor(() => expect(other!.describe()).toEqual([]));
    expect((await held.submit(input)).vector).toHaveLength(10);
    held.release();
    await expect(other.acquire('digits')).rejects.toMatchObject({ code: 'MODEL_NOT_READY' });
    // Asked for by name, it is reported as failing to load (and loaded again if it comes back).
    expect(other.failures()).toEqual([expect.objectContaining({ name: 'digits', code: 'MODEL_NOT_FOUND' })]);
    await vi.waitFor(() => expect(tensorMemory().numTensors).toBe(tensorsBefore), { timeout: 10_000 });

    await publishAs('digits', '1.0.0', { setLive: true });
    await other.checkForUpdates();
    expect(heard).toEqual(['removing digits', 'added digits']);
  });

  it('keeps its models when the registry folder lists none at all (a volume not mounted)', async () => {
    const { heard, listener } = recorder();
    pool.subscribe(listener);
    await rm(registry.modelFolder('mnist'), { recursive: true });
    await pool.checkForUpdates();
    expect(heard).toEqual([]);
    expect(pool.describe().map((model) => model.name)).toEqual(['mnist']);
  });
});
