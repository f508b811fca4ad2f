import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AppError } from '@inferq/core';

/**
 * A training checkpoint is a folder written after an epoch:
 *
 *     <dir>/epoch-0003/model.json       TF.js layers model: topology + weight specs
 *     <dir>/epoch-0003/weights.bin      the model's weights
 *     <dir>/epoch-0003/optimizer.json   the optimizer's weight specs (Adam: iteration, first and second moments)
 *     <dir>/epoch-0003/optimizer.bin    their values
 *     <dir>/epoch-0003/checkpoint.json  epoch number, the run's settings, that epoch's loss and accuracy
 *
 * It holds everything training depends on, so resuming from it continues exactly where the run
 * was: same weights, same optimizer moments and step count, same epoch number (the data order
 * of each epoch is derived from the seed and the epoch number).
 */
export interface CheckpointState<Config> {
  /** Epochs completed. */
  epoch: number;
  /** The run's settings; a resumed run takes them from here. */
  config: Config;
  /** Loss and accuracy of the epoch just finished. */
  metrics: Record<string, number>;
  createdAt: string;
}

export interface LoadedCheckpoint<Config> {
  model: tf.LayersModel;
  state: CheckpointState<Config>;
  /** Optimizer weights in the order `getWeights` gave them; the caller owns the tensors. */
  optimizerWeights: Array<{ name: string; tensor: tf.Tensor }>;
  folder: string;
}

const checkpointPattern = /^epoch-(\d{4,})$/;

export function checkpointFolder(dir: string, epoch: number): string {
  return path.join(dir, `epoch-${String(epoch).padStart(4, '0')}`);
}

/** Writes a checkpoint under a temp name and renames it into place, so a crash never leaves half of one. */
export async function saveCheckpoint<Config>(
  dir: string,
  model: tf.LayersModel,
  state: CheckpointState<Config>,
): Promise<string> {
  const artifacts = await captureArtifacts(model);
  const optimizer = model.optimizer;
  const named = await optimizer.getWeights();
  const encoded = await tf.io.encodeWeights(named);
  // getWeights makes a new scalar for the iteration count; the others are the optimizer's own.
  for (const entry of named) if (entry.name === 'iter') entry.tensor.dispose();

  const target = checkpointFolder(dir, state.epoch);
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
  await mkdir(temp, { recursive: true });
  try {
    const modelJson = {
      modelTopology: artifacts.modelTopology,
      format: 'layers-model',
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
    };
    await writeFile(path.join(temp, 'model.json'), JSON.stringify(modelJson));
    await writeFile(path.join(temp, 'weights.bin'), weightBytes(artifacts.weightData));
    await writeFile(
      path.join(temp, 'optimizer.json'),
      JSON.stringify({ className: optimizer.getClassName(), specs: encoded.specs }),
    );
    await writeFile(path.join(temp, 'optimizer.bin'), new Uint8Array(encoded.data));
    await writeFile(path.join(temp, 'checkpoint.json'), `${JSON.stringify(state, null, 2)}\n`);
    await rm(target, { recursive: true, force: true });
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
  return target;
}

/** Reads a checkpoint folder. Throws NOT_FOUND when it is missing or incomplete. */
export async function loadCheckpoint<Config>(folder: string): Promise<LoadedCheckpoint<Config>> {
  let files: {
    modelJson: tf.io.ModelJSON;
    weights: Buffer;
    optimizer: { specs: tf.io.WeightsManifestEntry[] };
    optimizerBytes: Buffer;
    state: CheckpointState<Config>;
  };
  try {
    files = {
      modelJson: JSON.parse(await readFile(path.join(folder, 'model.json'), 'utf8')) as tf.io.ModelJSON,
      weights: await readFile(path.join(folder, 'weights.bin')),
      optimizer: JSON.parse(await readFile(path.join(folder, 'optimizer.json'), 'utf8')) as {
        specs: tf.io.WeightsManifestEntry[];
      },
      optimizerBytes: await readFile(path.join(folder, 'optimizer.bin')),
      state: JSON.parse(await readFile(path.join(folder, 'checkpoint.json'), 'utf8')) as CheckpointState<Config>,
    };
  } catch (error) {
    throw new AppError('NOT_FOUND', `no complete checkpoint at ${folder}: ${(error as Error).message}`, {
      details: { folder },
      cause: error,
    });
  }
  const weightSpecs = files.modelJson.weightsManifest.flatMap((group) => group.weights);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: files.modelJson.modelTopology,
      weightSpecs,
      weightData: arrayBufferOf(files.weights),
    }),
  );
  const decoded = tf.io.decodeWeights(arrayBufferOf(files.optimizerBytes), files.optimizer.specs);
  const optimizerWeights = files.optimizer.specs.map((spec) => ({
    name: spec.name,
    tensor: decoded[spec.name] as tf.Tensor,
  }));
  return { model, state: files.state, optimizerWeights, folder };
}

/** Checkpoint folders under `dir`, by epoch, oldest first. */
export async function listCheckpoints(dir: string): Promise<Array<{ epoch: number; folder: string }>> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const found: Array<{ epoch: number; folder: string }> = [];
  for (const entry of entries) {
    const match = entry.isDirectory() ? checkpointPattern.exec(entry.name) : null;
    if (match) found.push({ epoch: Number(match[1]), folder: path.join(dir, entry.name) });
  }
  return found.sort((a, b) => a.epoch - b.epoch);
}

/** The model's topology and weights as `model.save` produces them, without writing anywhere. */
export async function captureArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!captured) throw new AppError('INTERNAL', 'model.save produced no artifacts');
  return captured;
}

/** The weight bytes of saved artifacts as one buffer. */
export function weightBytes(weightData: tf.io.WeightData | undefined): Uint8Array {
  if (weightData === undefined) return new Uint8Array(0);
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(weightData));
}

function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
