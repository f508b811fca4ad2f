import { FairQueue, type FairQueueSnapshot } from './fairQueue.ts';

const MiB = 1024 * 1024;

export interface AdmissionSharesOptions {
  /** Submissions this process validates and stores at once (MAX_CONCURRENT_SUBMITS). @defaultValue 32 */
  submits?: number;
  /** Bytes of upload bodies this process holds in memory at once (MAX_UPLOAD_MEMORY_BYTES). @defaultValue 256 MiB */
  uploadBytes?: number;
  /**
   * Decode cost this process runs at once (MAX_DECODE_PIXELS), in JPEG-equivalent pixels: a
   * decode holds about 1.5 bytes of memory per declared pixel, and formats slower per pixel
   * (AVIF, HEIF) weigh more (see decodeCost). @defaultValue 160 000 000 (four 40 MP JPEGs)
   */
  decodePixels?: number;
  /** Longest a request waits for its turn (ADMISSION_MAX_WAIT_MS). @defaultValue 5000 */
  maxWaitMs?: number;
  /** Requests one queue holds at most (ADMISSION_QUEUE_LENGTH). @defaultValue 128 */
  queueLengthLimit?: number;
}

/**
 * What one API process shares between the users submitting to it, each a {@link FairQueue}:
 * submissions in progress (validating and storing), upload bytes buffered in memory, and decoding
 * by cost. A user alone may use all of each; under contention every active user gets an equal
 * turn (weighted by tier), and a request waits at most `maxWaitMs` for it. Event streams have
 * their queue in LiveEvents.
 */
export class AdmissionShares {
  readonly submits: FairQueue;
  readonly uploadBytes: FairQueue;
  readonly decodePixels: FairQueue;

  constructor(options: AdmissionSharesOptions = {}) {
    const queueing = { maxWaitMs: options.maxWaitMs ?? 5000, queueLengthLimit: options.queueLengthLimit ?? 128 };
    this.submits = new FairQueue({ capacity: options.submits ?? 32, ...queueing });
    this.uploadBytes = new FairQueue({ capacity: options.uploadBytes ?? 256 * MiB, ...queueing });
    this.decodePixels = new FairQueue({ capacity: options.decodePixels ?? 160_000_000, ...queueing });
  }

  /** Each resource's use now, per user: for /metrics and the operators' page. */
  snapshot(): Record<'submits' | 'uploadBytes' | 'decodePixels', FairQueueSnapshot> {
    return {
      submits: this.submits.snapshot(),
      uploadBytes: this.uploadBytes.snapshot(),
      decodePixels: this.decodePixels.snapshot(),
    };
  }
}
