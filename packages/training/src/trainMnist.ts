import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { AppError } from '@inferq/core';
import { checkpointFolder, listCheckpoints, loadCheckpoint, saveCheckpoint } from './checkpoints.ts';
import { loadMnist, mnistLabels, mnistPixels, mnistSide, type MnistSet } from './mnistData.ts';
import { buildMnistModel, compileMnistModel } from './mnistModel.ts';

/** Everything a run's result depends on; stored in each checkpoint and reused on resume. */
export interface MnistTrainingConfig {
  /** Seeds the initializers and each epoch's data order. */
  seed: number;
  /** Training examples: the first `trainSize` of the MNIST training split. */
  trainSize: number;
  batchSize: number;
  hiddenUnits: number;
  learningRate: number;
}

export const defaultMnistTrainingConfig: MnistTrainingConfig = {
  seed: 42,
  trainSize: 20_000,
  batchSize: 64,
  hiddenUnits: 128,
  learningRate: 0.002,
};

export interface TrainMnistOptions {
  /** Train until this many epochs are done in total (a resumed run continues up to it). */
  epochs: number;
  /** Where a checkpoint is written after every epoch. */
  checkpointDir: string;
  /**
   * Continue from a checkpoint: its folder, or `latest` for the newest under `checkpointDir`.
   * The run's settings then come from the checkpoint. @defaultValue a fresh run
   */
  resumeFrom?: string;
  /** Settings of a fresh run. @defaultValue defaultMnistTrainingConfig */
  config?: Partial<MnistTrainingConfig>;
  /** Test examples scored at the end (the first of the MNIST test split); 0 skips. @defaultValue 10000 */
  testSize?: number;
  /** Called after each epoch and its checkpoint. */
  onEpoch?: (report: EpochReport) => void;
}

export interface EpochReport {
  epoch: number;
  loss: number;
  accuracy: number;
  ms: number;
  checkpoint: string;
}

export interface TrainMnistResult {
  /** The trained model; the caller owns it. */
  model: tf.LayersModel;
  config: MnistTrainingConfig;
  /** Epochs done in total. */
  epoch: number;
  /** The epoch this run started from (0 for a fresh run). */
  initialEpoch: number;
  epochs: EpochReport[];
  /** Accuracy on the test examples, null when testSize is 0. */
  testAccuracy: number | null;
}

/**
 * Trains the MNIST classifier, one `fit` call per epoch with `initialEpoch`, writing a checkpoint
 * after each. Reproducible: the initializers are seeded and each epoch's example order is a
 * Fisher–Yates shuffle seeded by (seed, epoch), with tfjs's own shuffle (Math.random) off. So
 * training 2 epochs and resuming for 2 more gives the same weights as 4 straight.
 */
export async function trainMnist(options: TrainMnistOptions): Promise<TrainMnistResult> {
  let model: tf.LayersModel;
  let config: MnistTrainingConfig;
  let initialEpoch = 0;
  if (options.resumeFrom !== undefined) {
    const folder = options.resumeFrom === 'latest' ? await latestCheckpoint(options.checkpointDir) : options.resumeFrom;
    const checkpoint = await loadCheckpoint<MnistTrainingConfig>(folder);
    config = checkpoint.state.config;
    model = checkpoint.model;
    compileMnistModel(model, config);
    await model.optimizer.setWeights(checkpoint.optimizerWeights);
    tf.dispose(checkpoint.optimizerWeights.map((entry) => entry.tensor));
    initialEpoch = checkpoint.state.epoch;
  } else {
    config = { ...defaultMnistTrainingConfig, ...options.config };
    model = buildMnistModel(config);
  }
  if (options.epochs < initialEpoch) {
    model.dispose();
    throw new AppError(
      'VALIDATION_FAILED',
      `the checkpoint is at epoch ${initialEpoch}, past the ${options.epochs} epochs asked for`,
    );
  }

  const train = await loadMnist({ split: 'train', count: config.trainSize });
  const xs = imagesTensor(train);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(train.labels, 'int32'), mnistLabels.length));
  const reports: EpochReport[] = [];
  try {
    for (let epoch = initialEpoch; epoch < options.epochs; epoch++) {
      const started = performance.now();
      const order = tf.tensor1d(epochOrder(train.count, config.seed, epoch), 'int32');
      const [x, y] = [tf.gather(xs, order), tf.gather(ys, order)];
      order.dispose();
      let history: tf.History;
      try {
        history = await model.fit(x, y, {
          epochs: epoch + 1,
          initialEpoch: epoch,
          batchSize: config.batchSize,
          shuffle: false,
          verbose: 0,
        });
      } finally {
        tf.dispose([x, y]);
      }
      const loss = lastOf(history.history.loss);
      const accuracy = lastOf(history.history.acc ?? history.history.accuracy);
      const checkpoint = await saveCheckpoint(options.checkpointDir, model, {
        epoch: epoch + 1,
        config,
        metrics: { loss, accuracy },
        createdAt: new Date().toISOString(),
      });
      const report = { epoch: epoch + 1, loss, accuracy, ms: performance.now() - started, checkpoint };
      reports.push(report);
      options.onEpoch?.(report);
    }
  } finally {
    tf.dispose([xs, ys]);
  }
  const testAccuracy = (options.testSize ?? 10_000) > 0 ? await evaluateMnist(model, options.testSize ?? 10_000) : null;
  return { model, config, epoch: Math.max(options.epochs, initialEpoch), initialEpoch, epochs: reports, testAccuracy };
}

/** Share of the first `count` test examples the model labels correctly. */
export async function evaluateMnist(model: tf.LayersModel, count = 10_000): Promise<number> {
  const test = await loadMnist({ split: 'test', count });
  const xs = imagesTensor(test);
  try {
    const predicted = tf.tidy(() => (model.predict(xs) as tf.Tensor).argMax(-1));
    const labels = await predicted.data();
    predicted.dispose();
    let correct = 0;
    for (let i = 0; i < test.count; i++) if (labels[i] === test.labels[i]) correct++;
    return correct / test.count;
  } finally {
    xs.dispose();
  }
}

/** The example order of one epoch: a Fisher–Yates shuffle seeded by (seed, epoch), never Math.random. */
export function epochOrder(count: number, seed: number, epoch: number): Int32Array {
  const random = seedrandom(`inferq-mnist/${seed}/${epoch}`);
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}

/** Pixels scaled to [0, 1], as the served model's manifest asks (`divide` by 255). */
function imagesTensor(set: MnistSet): tf.Tensor4D {
  const values = new Float32Array(set.count * mnistPixels);
  for (let i = 0; i < values.length; i++) values[i] = (set.images[i] as number) / 255;
  return tf.tensor4d(values, [set.count, mnistSide, mnistSide, 1]);
}

async function latestCheckpoint(dir: string): Promise<string> {
  const last = (await listCheckpoints(dir)).at(-1);
  if (!last) throw new AppError('NOT_FOUND', `no checkpoint under ${dir}`, { details: { folder: dir } });
  return last.folder;
}

function lastOf(values: Array<number | tf.Tensor> | undefined): number {
  const value = values?.at(-1);
  return typeof value === 'number' ? value : value === undefined ? Number.NaN : (value.dataSync()[0] as number);
}

export { checkpointFolder };
