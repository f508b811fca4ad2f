import type { JobExecution } from '@inferq/db';
import type { StoredPixels } from '@inferq/queue';
import type { BlobStore } from '@inferq/storage';
import { PermanentFailure, type ClaimedJob } from './attempt.ts';

export interface InputLoaderOptions {
  /** Reads an input's bytes, or its blob key, from Postgres. */
  execution: Pick<JobExecution, 'inputOf'>;
  /** Where inputs admitted with a blob store are kept. @defaultValue none: such a job is retried until one is configured */
  blobs?: BlobStore | undefined;
}

/**
 * The model pixels an attempt already has, with the key of their spec: handed over through Redis
 * by the API, or stored with the input by older API versions. Undefined: the input must be decoded.
 */
export function pixelsOf(row: Pick<ClaimedJob, 'handed' | 'pixels' | 'pixelsSpec'>): StoredPixels | undefined {
  return row.handed ?? (row.pixels && row.pixelsSpec ? { data: row.pixels, spec: row.pixelsSpec } : undefined);
}

/**
 * Step 2, load inputs: where an attempt's input is. From the claimed row (Postgres read it with
 * the claim), the blob store (the row names a key) or the pixels handed over (see {@link pixelsOf}).
 */
export class InputLoader {
  readonly #options: InputLoaderOptions;

  constructor(options: InputLoaderOptions) {
    this.#options = options;
  }

  /** The claimed job's input bytes; INPUT_MISSING when they are gone. */
  async bytesOf(jobId: string, row: Pick<ClaimedJob, 'input' | 'inputKey'>): Promise<Buffer> {
    const bytes = row.input ?? (await this.stored(jobId, row.inputKey));
    if (!bytes) throw new PermanentFailure('INPUT_MISSING', 'The stored input of this job is gone.');
    return bytes;
  }

  /**
   * The input bytes of an attempt that started without them: from the blob store when the row
   * names a key, else from Postgres (the row may have been moved to the store meanwhile). Null
   * when they are gone; a store that cannot be reached is a plain error, retried.
   */
  async stored(jobId: string, inputKey: string | null): Promise<Buffer | null> {
    const stored = inputKey ? { blobKey: inputKey } : await this.#options.execution.inputOf(jobId);
    if (!stored) return null;
    if (stored.data) return stored.data;
    const blobs = this.#options.blobs;
    if (!blobs)
      throw new Error(
        `job ${jobId}'s input is in a blob store, and this worker has none (set BLOB_STORE_URL as for the API)`,
      );
    return blobs.get(stored.blobKey);
  }
}
