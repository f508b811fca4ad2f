import { AppError, GroupCommit, queueUnavailable } from '@inferq/core';
import type { AdmitRequest, AdmitResult, JobAdmission } from '@inferq/db';
import type { PreparedPixels } from '@inferq/images';
import type { JobLifecycle } from '@inferq/lifecycle';
import type { InferenceQueue, PixelStore } from '@inferq/queue';
import { inputBlobKey, type BlobStore } from '@inferq/storage';
import { disabledTracing, SpanStatusCode, type Span, type Tracing } from '@inferq/tracing';
import { storageUnavailable } from './storageUnavailable.ts';
import type { RecentJobs } from './recentJobs.ts';

/** Queued + running jobs across all users above which submissions get 503 QUEUE_FULL. */
export const defaultMaxQueuedJobs = 10_000;

export interface QueueAdmissionOptions {
  /** The submit path's writes (quota, idempotency). */
  admission: JobAdmission;
  queue: InferenceQueue;
  /** Queued + running jobs across all users above which submissions get 503 QUEUE_FULL. @defaultValue defaultMaxQueuedJobs (10000) */
  maxQueuedJobs?: number | undefined;
  /** `Retry-After` of a QUEUE_FULL answer, in seconds. @defaultValue 5 */
  queueFullRetryAfterSeconds?: number;
  /**
   * How old a queue-length read under the cap may be for the early check at submit to reuse it
   * (see checkCapacity); the reservation still holds the cap per job. 0: every submit reads.
   * @defaultValue 100
   */
  capacityReadMaxAgeMs?: number | undefined;
  /** Announces new (queued) jobs; the worker and the commands make the other transitions. @defaultValue none: not announced */
  lifecycle?: JobLifecycle | undefined;
  /**
   * Where the model pixels made by the validating decode wait for the worker (Redis), so that
   * decode is the job's only one. Absent, or over its budget: the API only checks the image (for
   * JPEG, a DCT-domain decode at 1/8 scale) and the worker decodes it. @defaultValue none
   */
  pixels?: PixelStore | undefined;
  /**
   * Told of each job admitted, before it is enqueued: requests that then wait for it start
   * without reading its row (see RecentJobs). @defaultValue none
   */
  recent?: RecentJobs | undefined;
  /** Most admissions written in one transaction (group commit). @defaultValue 128 */
  maxAdmissionGroup?: number;
  /**
   * Spans of each submit (`submit`, with `admission` and `enqueue` under it); the enqueue span's
   * context travels in the job payload as `traceparent`. @defaultValue disabledTracing (off)
   */
  tracing?: Tracing | undefined;
  /**
   * Where input bytes are kept outside Postgres (BLOB_STORE_URL): each admitted job's image is
   * written there first, and its row keeps the key. Used uploads are deleted from it.
   * @defaultValue none: inputs are stored in Postgres
   */
  blobs?: BlobStore | undefined;
}

/** An admission as the group commit writes it, and the job it enqueues. */
export interface PendingAdmission {
  request: AdmitRequest;
  payload: { jobId: string; model: string; modelVersion?: string; traceparent?: string; pixels?: true };
  /** The version that also runs the job, its result kept apart (a split's shadow). */
  shadow: string | undefined;
  /** The model pixels made while validating, handed to the worker through the pixel store. */
  pixels: PreparedPixels | undefined;
  /** The submit's span (a batch's images share one). */
  span: Span;
  /** The upload the image came from: deleted once the job is admitted. */
  uploadKey?: string | undefined;
  /** The write of the input to the blob store, started when the admission is asked for: its error, if it failed. */
  inputWritten?: Promise<{ error: unknown } | undefined>;
}

export type AdmissionOutcome = AdmitResult | { outcome: 'failed'; error: unknown };

/**
 * Admission to the queue, for every submit kind: the global cap on queued + running jobs, the
 * job rows (quota, priority, idempotency key) written with their inputs, and the enqueue. Owns
 * what happens between "the image is valid" and "the job is queued"; JobSubmission decides what
 * is admitted.
 */
export class QueueAdmission {
  readonly #options: QueueAdmissionOptions;

  constructor(options: QueueAdmissionOptions) {
    this.#options = options;
    // Two groups at once: one can be enqueueing while the next is in its transaction. One user's
    // admissions are in one group at a time: the transaction takes a lock per user, so a second
    // group holding that user would wait for the first's commit, and with it every other user in
    // it. A user's flood then keeps to one group, and the others' submits go in the other.
    this.#admissions = new GroupCommit({
      maxGroupSize: options.maxAdmissionGroup ?? 128,
      concurrency: 2,
      ownerOf: (pending) => pending.request.job.userId.toLowerCase(),
      run: (group) => this.#admitGroup(group),
    });
  }

  /** The global cap on queued + running jobs, as operators are shown it. */
  get queueCap(): number {
    return this.#options.maxQueuedJobs ?? defaultMaxQueuedJobs;
  }

  /** Admits one job; answered once its row is committed and it is queued (or why not). */
  admit(pending: PendingAdmission): Promise<AdmissionOutcome> {
    this.#writeInput(pending);
    return this.#admissions.submit(pending);
  }

  /** Admits many jobs in order (a batch's images), their outcomes by position. */
  admitAll(pending: PendingAdmission[]): Promise<AdmissionOutcome[]> {
    for (const one of pending) this.#writeInput(one);
    return this.#admissions.submitAll(pending);
  }

  /**
   * Starts writing the job's input to the blob store, if there is one, while the admission waits
   * for its group: the write (a file, or an object in a bucket) then overlaps the group ahead
   * instead of lengthening its own. Under `pnpm bench fairness` a group's writes were its longest
   * step, 6 to 14 ms. What is written for a job that is not created is deleted again.
   */
  #writeInput(pending: PendingAdmission): void {
    const { blobs } = this.#options;
    if (!blobs || pending.inputWritten) return;
    const { input, id } = pending.request.job;
    pending.inputWritten = blobs.put(inputBlobKey(id), input.data, { contentType: `image/${input.format}` }).then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
  }

  /** Deletes the inputs written for admissions that made no job, once their writes are done. */
  async #discardInputs(pending: PendingAdmission[]): Promise<void> {
    const { blobs } = this.#options;
    if (!blobs || pending.length === 0) return;
    await Promise.all(pending.map((one) => one.inputWritten));
    await blobs.delete(pending.map((one) => inputBlobKey(one.request.job.id))).catch(() => {});
  }

  get #tracing(): Tracing {
    return this.#options.tracing ?? disabledTracing;
  }

  /**
   * Group commit of admissions: the submits that arrive while one group is written go together
   * in the next, in one transaction (JobAdmission.admitMany) and one enqueue (addBulk), so one
   * user's burst no longer waits admission by admission, and the per-job statements and round
   * trips are shared. A job is answered only once its row is committed and it is queued.
   */
  readonly #admissions: GroupCommit<PendingAdmission, AdmissionOutcome>;

  async #admitGroup(group: PendingAdmission[]): Promise<AdmissionOutcome[]> {
    const { queue } = this.#options;
    // The global cap, per job: room for the whole group is reserved at once (atomic across API
    // processes), the first `granted` jobs go on, the rest are QUEUE_FULL each. The room is
    // held until the jobs are in the queue, where the cap counts them.
    let reservation;
    try {
      reservation = await queue.reserveCapacity(group.length, this.queueCap);
    } catch (error) {
      await this.#discardInputs(group);
      throw error;
    }
    try {
      return await this.#admitReserved(group, reservation.granted);
    } finally {
      await reservation.release();
    }
  }

  async #admitReserved(group: PendingAdmission[], granted: number): Promise<AdmissionOutcome[]> {
    const { admission, queue, lifecycle } = this.#options;
    const tracing = this.#tracing;
    const admitted = group.slice(0, granted);
    // Off, no span is started and nothing is added to the payloads.
    const groupAttributes = { 'inferq.group_size': admitted.length };
    const admissionSpans = tracing.enabled
      ? admitted.map((pending) => tracing.startSpan('admission', { parent: pending.span, attributes: groupAttributes }))
      : [];
    let results: AdmissionOutcome[];
    try {
      results = admitted.length > 0 ? await this.#admitStored(admitted) : [];
    } finally {
      for (const span of admissionSpans) span.end();
    }
    for (let i = granted; i < group.length; i++) results.push({ outcome: 'failed', error: this.#queueFull() });
    await this.#discardInputs(group.slice(granted));
    const created = admitted.flatMap((pending, i) => {
      const result = results[i]!;
      return result.outcome === 'created' ? [{ pending, job: result.job, i }] : [];
    });
    if (created.length === 0) return results;
    const enqueueSpans = tracing.enabled
      ? created.map(({ pending, job }) => {
          const span = tracing.startSpan('enqueue', {
            parent: pending.span,
            attributes: { 'inferq.job_id': job.id, 'inferq.model': job.modelName, 'inferq.group_size': created.length },
          });
          const traceparent = tracing.carrier(span)?.traceparent;
          if (traceparent) pending.payload.traceparent = traceparent;
          return span;
        })
      : [];
    // The pixels go first, so the worker that takes a job finds them. Should Redis refuse them,
    // the enqueue below fails too, or the worker decodes the stored upload: nothing is lost.
    const handed = created.filter(({ pending }) => pending.pixels);
    // Marked in the payload only once stored: a worker asks Redis for the pixels of marked jobs alone.
    if (handed.length > 0 && this.#options.pixels) {
      const stored = await this.#options.pixels
        .putMany(handed.map(({ pending, job }) => ({ jobId: job.id, pixels: pending.pixels! })))
        .then(
          () => true,
          () => false,
        );
      if (stored) for (const { pending } of handed) pending.payload.pixels = true;
    }
    // Before the enqueue: no event of these jobs can come before this.
    this.#options.recent?.remember(created.map(({ job }) => job));
    // Announced before the enqueue too, so that a worker's events of a job always come after it.
    // Should the enqueue fail, listeners have heard of jobs that were then withdrawn (Redis was
    // refusing, so most likely nothing went out).
    await lifecycle?.queued(
      created.map(({ pending, job }) => ({ id: job.id, userId: pending.request.job.userId, model: job.modelName })),
    );
    try {
      await queue.enqueueMany(
        created.map(({ pending, job }) => ({ payload: pending.payload, priority: job.priority ?? undefined })),
      );
    } catch (error) {
      for (const span of enqueueSpans)
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message }).end();
      // The clients get no ids, so the rows must not stay behind looking queued.
      this.#options.recent?.forget(created.map(({ job }) => job.id));
      await admission.discardMany(created.map(({ job }) => job.id)).catch(() => {});
      await this.#options.blobs?.delete(created.map(({ job }) => inputBlobKey(job.id))).catch(() => {});
      for (const { i } of created) results[i] = { outcome: 'failed', error };
      return results;
    }
    for (const span of enqueueSpans) span.end();
    // Shadow runs go on their model's shadow queue once the primaries are queued: the owner pays no
    // quota for them (no row of their own) and never waits for them, nor fails for them.
    const shadows = created.flatMap(({ pending, job }) =>
      pending.shadow
        ? [{ jobId: job.id, model: job.modelName, modelVersion: pending.shadow, shadow: true as const }]
        : [],
    );
    // A shadow not queued (Redis away) is a comparison pair fewer, nothing a user loses.
    if (shadows.length > 0) void queue.enqueueShadows(shadows).catch(() => {});
    // An upload is used once: its bytes now live on as the job's input.
    const usedUploads = created.flatMap(({ pending }) => (pending.uploadKey ? [pending.uploadKey] : []));
    if (usedUploads.length > 0) void this.#options.blobs?.delete(usedUploads).catch(() => {});
    return results;
  }

  /**
   * Admits a group once its input bytes are in the blob store, when there is one (the rows then
   * keep only the key): a row never names a blob that is not there. A blob whose job was not
   * created (over the quota, a replayed key) is deleted again. A store that fails refuses the
   * whole group with STORAGE_UNAVAILABLE, nothing written.
   */
  async #admitStored(admitted: PendingAdmission[]): Promise<AdmissionOutcome[]> {
    const { admission, blobs } = this.#options;
    if (!blobs) return admission.admitMany(admitted.map((pending) => pending.request));
    const keys = admitted.map((pending) => inputBlobKey(pending.request.job.id));
    for (const pending of admitted) this.#writeInput(pending);
    const written = await Promise.all(admitted.map((pending) => pending.inputWritten));
    const failed = written.find((outcome) => outcome !== undefined);
    if (failed) {
      await blobs.delete(keys).catch(() => {});
      const error = storageUnavailable(failed.error);
      return admitted.map(() => ({ outcome: 'failed', error }));
    }
    let results: AdmitResult[];
    try {
      results = await admission.admitMany(
        admitted.map((pending, i) => ({
          ...pending.request,
          job: { ...pending.request.job, input: { ...pending.request.job.input, blobKey: keys[i] } },
        })),
      );
    } catch (error) {
      await blobs.delete(keys).catch(() => {});
      throw error;
    }
    const unused = keys.filter((_, i) => results[i]!.outcome !== 'created');
    if (unused.length > 0) await blobs.delete(unused).catch(() => {});
    return results;
  }

  /** The queue-length read in progress, shared by every submit that arrives while it runs. */
  #capacityRead: Promise<number> | undefined;
  /** The last queue length read under the cap, and when (performance.now()). */
  #capacityUnder: { inFlight: number; at: number } | undefined;

  /**
   * The global cap on work in the system, checked early, before an image is decoded: a full
   * platform refuses at once. It only reads (concurrent submits can pass it together); what
   * holds the cap per job is the reservation each admission group takes (#admitGroup). Submits
   * share one read of the queue length (three scripts on Redis, one per model queue and the
   * legacy one): the read in flight, or one under the cap made in the last
   * `capacityReadMaxAgeMs`. A length at the cap is never reused, so a drained platform admits
   * again at once.
   */
  async checkCapacity(): Promise<number> {
    const recent = this.#capacityUnder;
    const maxAgeMs = this.#options.capacityReadMaxAgeMs ?? 100;
    if (recent && performance.now() - recent.at < maxAgeMs) return recent.inFlight;
    let inFlight: number;
    try {
      this.#capacityRead ??= this.#options.queue.inFlightCount().finally(() => (this.#capacityRead = undefined));
      inFlight = await this.#capacityRead;
    } catch (error) {
      throw queueUnavailable(error);
    }
    if (inFlight >= this.queueCap) {
      this.#capacityUnder = undefined;
      throw this.#queueFull();
    }
    this.#capacityUnder = { inFlight, at: performance.now() };
    return inFlight;
  }

  #queueFull(): AppError {
    const retryAfter = this.#options.queueFullRetryAfterSeconds ?? 5;
    return new AppError(
      'QUEUE_FULL',
      `The platform is at capacity; nothing was stored. Try again in ${retryAfter} s.`,
      { retryAfterSeconds: retryAfter },
    );
  }
}
