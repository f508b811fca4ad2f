import { tierOf, type Principal, type TierTable } from '@inferq/accounts';
import { acquireTurn, type FairQueue } from '@inferq/admission';
import { AppError, isFinalStatus, isUuid, type ImageFormat } from '@inferq/core';
import type { JobFilter, JobQueries, JobRecord, WebhookDeliveryStore } from '@inferq/db';
import { decodeCost, imageOnly, makeThumbnail } from '@inferq/images';
import type { InferenceQueue, ModelCapacity } from '@inferq/queue';
import type { BlobStore } from '@inferq/storage';
import { LRUCache } from 'lru-cache';
import {
  decodeCursor,
  encodeCursor,
  parseAdminFilter,
  parseFilter,
  parseLimit,
  type AdminJobFilterInput,
  type JobListInput,
  type JobPage,
} from './jobFilters.ts';
import { findJob, findOwnedJob, jobNotFound } from './jobLookup.ts';
import type { JobWaiter, WaitOutcome } from './jobWaiter.ts';
import { storageUnavailable } from './storageUnavailable.ts';

export interface JobReadsOptions {
  /** Reads of jobs. */
  queries: JobQueries;
  queue: InferenceQueue;
  /** Holds `?wait=` requests until their job is final; absent: waits answer at once. */
  waiter?: JobWaiter | undefined;
  /** Webhook delivery attempts, shown on the job. */
  deliveries?: WebhookDeliveryStore | undefined;
  /**
   * The models some live worker serves (heartbeats, cached), for `waitingFor`; undefined when it
   * cannot be known (Redis down). @defaultValue none: waitingFor is always null
   */
  servedModels?: (() => Promise<ReadonlySet<string> | undefined>) | undefined;
  /**
   * Per model, the workers serving it, their measured throughput and its load time (heartbeats,
   * cached), for a queued job's `etaSeconds`. @defaultValue none: etaSeconds is always null
   */
  capacity?: (() => Promise<ReadonlyMap<string, ModelCapacity> | undefined>) | undefined;
  /** Thumbnails' decodes wait their turn here, as a submit's do (see JobSubmissionOptions.decodePixels). @defaultValue none: not counted */
  decodePixels?: FairQueue | undefined;
  tiers: TierTable;
  /** Where inputs kept outside Postgres are read from (BLOB_STORE_URL). @defaultValue none: such inputs are STORAGE_UNAVAILABLE */
  blobs?: BlobStore | undefined;
}

/**
 * A job as its owner and operators read it: get, list and search, waits for the final status,
 * the queue position and ETA of a queued job, webhook deliveries, and the input image and its
 * thumbnails. Writes nothing. Returns data or throws AppError; knows nothing of HTTP.
 */
export class JobReads {
  readonly #options: JobReadsOptions;

  constructor(options: JobReadsOptions) {
    this.#options = options;
  }

  /** The caller's jobs, newest first. */
  async list(principal: Principal, input: JobListInput): Promise<JobPage> {
    return this.#list(principal.userId, input);
  }

  /**
   * Every user's jobs (or one user's), newest first, by the owners' filters plus free text; for
   * administrators.
   */
  async listAll(input: JobListInput & AdminJobFilterInput): Promise<JobPage> {
    return this.#list(undefined, input, parseAdminFilter(input));
  }

  /** How many jobs an operators' filter covers, up to `cap`. */
  async countAll(input: AdminJobFilterInput, cap: number): Promise<number> {
    return this.#options.queries.count(parseAdminFilter(input), cap);
  }

  async #list(
    userId: string | undefined,
    input: JobListInput,
    filter: JobFilter = parseFilter(input),
  ): Promise<JobPage> {
    const limit = parseLimit(input.limit);
    const jobs = await this.#options.queries.list({
      ...filter,
      ...(userId === undefined ? {} : { userId }),
      after: input.cursor === undefined ? undefined : decodeCursor(input.cursor),
      limit: limit + 1,
    });
    const page = jobs.slice(0, limit);
    const last = page.at(-1);
    return { jobs: page, nextCursor: jobs.length > limit && last ? encodeCursor(last) : null };
  }

  /**
   * A job of the caller's once it is final, or as it is after `timeoutMs`. Costs no database
   * reads while nothing happens (see JobWaiter). `job` is null only when the wait was aborted.
   */
  async waitFor(
    principal: Principal,
    id: string,
    options: { timeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<WaitOutcome> {
    const waiter = this.#options.waiter;
    if (!waiter || options.timeoutMs <= 0) {
      const job = await this.get(principal, id);
      return { job, reason: isFinalStatus(job.status) ? 'final' : 'timeout' };
    }
    if (!isUuid(id)) throw jobNotFound();
    const outcome = await waiter.wait(id, { ...options, accept: (job) => job.userId === principal.userId });
    if (outcome.reason === 'refused') throw jobNotFound();
    return outcome;
  }

  /** The webhook delivery attempts of a job of the caller's, oldest first. */
  async deliveries(principal: Principal, id: string) {
    await this.get(principal, id);
    return this.deliveriesOf(id);
  }

  /** The webhook delivery attempts of any job, oldest first (every delivery, redeliveries included); for operators. */
  async deliveriesOf(id: string) {
    return (await this.#options.deliveries?.listForJob(id)) ?? [];
  }

  /** A job of the caller's; another user's job is answered exactly like a missing one. */
  async get(principal: Principal, id: string): Promise<JobRecord> {
    return findOwnedJob(this.#options.queries, principal, id);
  }

  /**
   * What a queued job's view says of its wait, read live (never stored): `waitingFor`, its
   * `queuePosition` in its model's queue (1 is next) and `etaSeconds`. All nulls for any other
   * job, and each null on its own when it cannot be read (Redis away, nothing measured yet).
   */
  async queueStatus(job: Pick<JobRecord, 'id' | 'status' | 'modelName'>): Promise<QueueStatus> {
    return (await this.queueStatusMany([job]))[0]!;
  }

  /**
   * queueStatus for many jobs (a page): one pipelined read of the queue positions for all of them,
   * and the cached heartbeats; no Postgres read.
   */
  async queueStatusMany(jobs: ReadonlyArray<Pick<JobRecord, 'id' | 'status' | 'modelName'>>): Promise<QueueStatus[]> {
    const none: QueueStatus = { waitingFor: null, queuePosition: null, etaSeconds: null };
    const queued = jobs.filter((job) => job.status === 'queued');
    if (queued.length === 0) return jobs.map(() => none);
    const { servedModels, capacity, queue } = this.#options;
    const [served, models, positions] = await Promise.all([
      servedModels?.().catch(() => undefined),
      capacity?.().catch(() => undefined),
      queue.isReady()
        ? queue
            .positions(queued.map((job) => ({ jobId: job.id, model: job.modelName })))
            .catch(() => queued.map(() => null))
        : queued.map(() => null),
    ]);
    const byId = new Map(queued.map((job, i) => [job.id, positions[i] ?? null]));
    return jobs.map((job) => {
      if (job.status !== 'queued') return none;
      const position = byId.get(job.id) ?? null;
      const unserved = served ? !served.has(job.modelName) : (models?.get(job.modelName)?.workers ?? 1) === 0;
      return {
        waitingFor: served && unserved ? 'worker' : null,
        queuePosition: position,
        etaSeconds: etaSeconds(position, models?.get(job.modelName), served ? unserved : undefined),
      };
    });
  }

  /** Thumbnails made, by job and side: a job's input never changes, so they never go stale. */
  readonly #thumbnails = new LRUCache<string, Buffer>({
    maxSize: 32 * 1024 * 1024,
    sizeCalculation: (bytes) => Math.max(1, bytes.byteLength),
  });
  /** Thumbnails being made: requests for the same one share its decode. */
  readonly #thumbnailsMaking = new Map<string, Promise<Buffer>>();

  /**
   * A square WebP thumbnail of a job's input, `side` pixels wide. Its decode waits its turn in
   * the decode queue like a submit's validation, by the same cost (declared pixels weighed by
   * format), so one user asking for many thumbnails of an expensive image delays others by one
   * turn, never by all of them. Thumbnails made are kept (32 MiB, least recently used first) and
   * a request for one being made shares that decode.
   *
   * @throws AppError NOT_FOUND when the input is no longer stored; CONCURRENCY_LIMITED or
   *   SERVER_BUSY when the decode's turn does not come in time; INVALID_IMAGE when it fails
   */
  async thumbnail(principal: Principal, id: string, side: number): Promise<{ job: JobRecord; bytes: Buffer }> {
    const job = await this.get(principal, id);
    const key = `${job.id}:${side}`;
    const cached = this.#thumbnails.get(key);
    if (cached) return { job, bytes: cached };
    let making = this.#thumbnailsMaking.get(key);
    if (!making) {
      making = this.#makeThumbnail(principal, job, side).finally(() => this.#thumbnailsMaking.delete(key));
      this.#thumbnailsMaking.set(key, making);
    }
    return { job, bytes: await making };
  }

  async #makeThumbnail(principal: Principal, job: JobRecord, side: number): Promise<Buffer> {
    const stored = await this.#readInput(job.id);
    if (!stored) throw new AppError('NOT_FOUND', 'The input of this job is no longer stored.');
    const pixels = job.inputWidth * job.inputHeight;
    const cost = decodeCost({ pixels, format: job.inputFormat as ImageFormat });
    const { decodePixels } = this.#options;
    const lease = decodePixels
      ? await acquireTurn(decodePixels, 'decodePixels', principal.userId, cost, {
          weight: tierOf(principal.tier, this.#options.tiers).shareWeight,
        })
      : undefined;
    try {
      // Inputs are stored trimmed to the image; rows from before that are trimmed here.
      const bytes = await makeThumbnail(imageOnly(stored, job.inputFormat), side, { maxPixels: pixels });
      this.#thumbnails.set(`${job.id}:${side}`, bytes);
      return bytes;
    } catch (error) {
      throw new AppError('INVALID_IMAGE', 'A thumbnail of this image could not be made.', {
        details: { reason: 'thumbnail_failed' },
        cause: error,
      });
    } finally {
      lease?.release();
    }
  }

  /** The input image of a job of the caller's; null when it is no longer stored. */
  async input(principal: Principal, id: string): Promise<{ job: JobRecord; bytes: Buffer | null }> {
    const job = await this.get(principal, id);
    return { job, bytes: await this.#readInput(job.id) };
  }

  /** A job's input bytes, from Postgres or the blob store; null when they are gone. */
  async #readInput(id: string): Promise<Buffer | null> {
    const stored = await this.#options.queries.getInput(id);
    if (!stored) return null;
    if (stored.data) return stored.data;
    const blobs = this.#options.blobs;
    if (!blobs) throw storageUnavailable(new Error(`job ${id}'s input is in a blob store and none is configured`));
    try {
      return await blobs.get(stored.blobKey);
    } catch (error) {
      throw storageUnavailable(error);
    }
  }

  /** Any user's job by id, for operators (the dashboard's search by job id). */
  async getAny(id: string): Promise<JobRecord> {
    return findJob(this.#options.queries, id);
  }
}

/** What a job's view says of its wait in the queue (see JobReads.queueStatus). */
export interface QueueStatus {
  waitingFor: 'worker' | null;
  queuePosition: number | null;
  etaSeconds: number | null;
}

/**
 * Seconds until a job at `position` is expected to finish: its place over the model's measured
 * throughput (the jobs ahead of it and itself), plus the model's load time when no worker serves
 * it. null when the position or the throughput is not known, or no worker serves the model and
 * its load time was never measured. To a tenth of a second.
 */
export function etaSeconds(
  position: number | null,
  capacity: ModelCapacity | undefined,
  unserved = capacity ? capacity.workers === 0 : undefined,
): number | null {
  if (
    position === null ||
    !capacity ||
    capacity.throughput === null ||
    capacity.throughput <= 0 ||
    unserved === undefined
  )
    return null;
  if (unserved && capacity.loadMs === null) return null;
  const seconds = position / capacity.throughput + (unserved ? capacity.loadMs! / 1000 : 0);
  return Math.round(seconds * 10) / 10;
}
