import { EntryLine, type EntryFlowUse } from './entryLine.ts';
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
  /**
   * Submissions of one user past the door at once, before their turn for a slot: authenticating,
   * reading and parsing their bodies (MAX_ENTERING_SUBMITS_PER_USER; see {@link EntryLine}).
   * @defaultValue 8
   */
  enteringPerUser?: number;
  /** Longest a request waits for its turn (ADMISSION_MAX_WAIT_MS). @defaultValue 5000 */
  maxWaitMs?: number;
  /** Requests one queue holds at most (ADMISSION_QUEUE_LENGTH). @defaultValue 128 */
  queueLengthLimit?: number;
}

/** Flows at the door of a key not yet seen to authenticate (`key:<its hash>`), and of requests with no key (`address:<client>`): not users. */
export const keyFlowPrefix = 'key:';
export const addressFlowPrefix = 'address:';

/**
 * What one API process shares between the users submitting to it, each a {@link FairQueue}:
 * submissions in progress (validating and storing), upload bytes buffered in memory, and decoding
 * by cost. A user alone may use all of each; under contention every active user gets an equal
 * turn (weighted by tier), and a request waits at most `maxWaitMs` for it. Submissions reach their
 * queue through a door ({@link EntryLine}) that lets a few of each user's in at a time. Event
 * streams have their queue in LiveEvents.
 */
export class AdmissionShares {
  readonly submits: FairQueue;
  /** The submit slots' door: a user's submissions past it are at most `enteringPerUser`. */
  readonly entry: EntryLine;
  readonly uploadBytes: FairQueue;
  readonly decodePixels: FairQueue;

  constructor(options: AdmissionSharesOptions = {}) {
    const queueing = { maxWaitMs: options.maxWaitMs ?? 5000, queueLengthLimit: options.queueLengthLimit ?? 128 };
    this.submits = new FairQueue({ capacity: options.submits ?? 32, ...queueing });
    // A user's line at the door holds what its hand of queues would (six queues), and the door
    // as many as all the queues.
    this.entry = new EntryLine({
      perFlow: options.enteringPerUser ?? 8,
      maxWaiting: this.submits.handSize * queueing.queueLengthLimit,
      maxWaitingTotal: this.submits.queueCount * queueing.queueLengthLimit,
      maxWaitMs: queueing.maxWaitMs,
    });
    this.uploadBytes = new FairQueue({ capacity: options.uploadBytes ?? 256 * MiB, ...queueing });
    this.decodePixels = new FairQueue({ capacity: options.decodePixels ?? 160_000_000, ...queueing });
  }

  /** Each resource's use now, per user: for /metrics and the operators' page. */
  snapshot(): Record<'submits' | 'uploadBytes' | 'decodePixels', FairQueueSnapshot> {
    return {
      submits: withEntry(this.submits.snapshot(), this.entry.snapshot()),
      uploadBytes: this.uploadBytes.snapshot(),
      decodePixels: this.decodePixels.snapshot(),
    };
  }
}

/**
 * The submit slots' use with the door's counts added in: a submission waiting at the door waits
 * for its turn at a slot as much as one in the queue does. Flows of keys not yet known, and of
 * requests with no key, count in the total only.
 */
function withEntry(submits: FairQueueSnapshot, entry: EntryFlowUse[]): FairQueueSnapshot {
  const flows = new Map(submits.flows.map((use) => [use.flow, { ...use }]));
  let waiting = submits.waiting;
  for (const door of entry) {
    waiting += door.waiting;
    if (door.flow.startsWith(keyFlowPrefix) || door.flow.startsWith(addressFlowPrefix)) continue;
    const use = flows.get(door.flow) ?? { flow: door.flow, held: 0, waiting: 0, queued: 0, refused: 0 };
    use.waiting += door.waiting;
    use.queued += door.queued;
    use.refused += door.refused;
    flows.set(door.flow, use);
  }
  return { ...submits, waiting, flows: [...flows.values()] };
}
