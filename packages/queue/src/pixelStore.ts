import type { Redis } from 'ioredis';

/** A model input's pixels as the API made them while validating, and the key of their spec. */
export interface StoredPixels {
  /** The pixel bytes (see `PreparedPixels` in `@inferq/images`). */
  data: Buffer;
  /** `pixelSpecKey` of the spec they were made for. */
  spec: string;
}

export interface PixelStoreOptions {
  /** The API's producer connection, or the worker's producer connection. */
  connection: Redis;
  /** Key prefix, shared with the queues. @defaultValue "inferq" */
  prefix?: string;
  /**
   * How long pixels wait for their job to start before Redis drops them (the worker then decodes
   * the stored upload). @defaultValue 600000 (10 minutes)
   */
  ttlMs?: number;
  /**
   * Bytes of pixels Redis may hold at once, judged as (jobs in flight + 1) × this job's pixel
   * bytes: beyond it a submit stores none and its worker decodes the upload instead, so a deep
   * queue never turns into gigabytes of Redis memory. @defaultValue 536870912 (512 MiB)
   */
  budgetBytes?: number;
}

/**
 * The hand-off of decoded model pixels from the API to the worker that runs the job: the API's
 * validating decode is the job's one decode, and the worker only scales the pixels into its input
 * tensor. Pixels are a cache, never the record: Postgres keeps the upload, so pixels that are
 * missing (Redis restarted, the TTL passed, the budget was spent, a retried attempt) cost the
 * worker one decode and nothing else. Each entry is read once: `takeMany` deletes what it reads.
 *
 * Value layout: a 2-byte big-endian length, the spec key in UTF-8, then the pixel bytes.
 */
export class PixelStore {
  readonly #connection: Redis;
  readonly #prefix: string;
  readonly ttlMs: number;
  readonly budgetBytes: number;

  constructor(options: PixelStoreOptions) {
    this.#connection = options.connection;
    this.#prefix = options.prefix ?? 'inferq';
    this.ttlMs = options.ttlMs ?? 600_000;
    this.budgetBytes = options.budgetBytes ?? 512 * 1024 * 1024;
  }

  #key(jobId: string): string {
    return `${this.#prefix}:pixels:${jobId}`;
  }

  /** Whether pixels of `bytes` fit the budget while `inFlight` jobs may each hold as many. */
  fits(bytes: number, inFlight: number): boolean {
    return (inFlight + 1) * bytes <= this.budgetBytes;
  }

  /** Stores the pixels of each job, in one round trip. */
  async putMany(entries: ReadonlyArray<{ jobId: string; pixels: StoredPixels }>): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.#connection.pipeline();
    for (const { jobId, pixels } of entries) pipeline.set(this.#key(jobId), encode(pixels), 'PX', this.ttlMs);
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed?.[0]) throw failed[0];
  }

  /** Reads and deletes the pixels of each job, in one round trip; a job without any maps to undefined. */
  async takeMany(jobIds: readonly string[]): Promise<Array<StoredPixels | undefined>> {
    if (jobIds.length === 0) return [];
    const pipeline = this.#connection.pipeline();
    for (const jobId of jobIds) pipeline.getdelBuffer(this.#key(jobId));
    const results = (await pipeline.exec()) ?? [];
    return jobIds.map((_, i) => {
      const [error, value] = results[i] ?? [];
      return error || !Buffer.isBuffer(value) ? undefined : decode(value);
    });
  }

  /** Drops the pixels of jobs that will not run (canceled, deleted). */
  async removeMany(jobIds: readonly string[]): Promise<void> {
    if (jobIds.length === 0) return;
    await this.#connection.unlink(...jobIds.map((jobId) => this.#key(jobId)));
  }
}

function encode(pixels: StoredPixels): Buffer {
  const spec = Buffer.from(pixels.spec, 'utf8');
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(spec.length, 0);
  return Buffer.concat([head, spec, pixels.data]);
}

function decode(value: Buffer): StoredPixels | undefined {
  if (value.length < 2) return undefined;
  const specLength = value.readUInt16BE(0);
  if (value.length < 2 + specLength) return undefined;
  return { spec: value.toString('utf8', 2, 2 + specLength), data: value.subarray(2 + specLength) };
}
