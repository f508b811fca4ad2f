import { FairShare } from '@inferq/core';

const MiB = 1024 * 1024;

export interface AdmissionSharesOptions {
  /** Submissions this process validates and stores at once (MAX_CONCURRENT_SUBMITS). @defaultValue 32 */
  submits?: number;
  /** Of those, one user's at most (MAX_CONCURRENT_SUBMITS_PER_USER). @defaultValue a quarter of `submits` */
  submitsPerUser?: number;
  /** Bytes of upload bodies this process holds in memory at once (MAX_UPLOAD_MEMORY_BYTES). @defaultValue 256 MiB */
  uploadBytes?: number;
  /** Of those, one user's at most (MAX_UPLOAD_MEMORY_BYTES_PER_USER). @defaultValue a quarter of `uploadBytes` */
  uploadBytesPerUser?: number;
  /**
   * Pixels (width × height, as the headers declare them) this process decodes at once
   * (MAX_DECODE_PIXELS): a decode holds about 1.5 bytes of memory per declared pixel.
   * @defaultValue 160 000 000 (four 40 MP images)
   */
  decodePixels?: number;
  /** Of those, one user's at most (MAX_DECODE_PIXELS_PER_USER). @defaultValue a quarter of `decodePixels` */
  decodePixelsPerUser?: number;
}

/**
 * What one API process shares between the users submitting to it, each with a per-user share so
 * one account's flood cannot refuse the others: submissions in progress (validating and storing),
 * upload bytes buffered in memory, and decode memory by declared pixels. Event streams have their
 * share in LiveEvents. A request past its user's share is answered 429 CONCURRENCY_LIMITED, one
 * past the process's capacity 503 SERVER_BUSY (`details.resource` says which), before the work
 * that would have used it.
 */
export class AdmissionShares {
  readonly submits: FairShare;
  readonly uploadBytes: FairShare;
  readonly decodePixels: FairShare;

  constructor(options: AdmissionSharesOptions = {}) {
    this.submits = new FairShare({ capacity: options.submits ?? 32, perUser: options.submitsPerUser });
    this.uploadBytes = new FairShare({ capacity: options.uploadBytes ?? 256 * MiB, perUser: options.uploadBytesPerUser });
    this.decodePixels = new FairShare({ capacity: options.decodePixels ?? 160_000_000, perUser: options.decodePixelsPerUser });
  }
}
