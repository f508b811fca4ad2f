import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  defaultInferenceJobPolicy,
  inferenceJobOptions,
  inferenceJobPayloadSchema,
  inferenceQueueName,
  queueUnavailable,
  type InferenceJobPayload,
  type InferenceJobPolicy,
} from '@inferq/core';
import { isRedisReady, withTimeout } from './redis.ts';

export interface InferenceQueueOptions {
  /** A producer connection (see createRedisConnection). */
  connection: Redis;
  /** @defaultValue "inference" */
  name?: string;
  /** BullMQ key prefix. @defaultValue "inferq" */
  prefix?: string;
  /** @defaultValue defaultInferenceJobPolicy */
  policy?: InferenceJobPolicy;
  /** How long an enqueue may take before the API gives up with 503. @defaultValue 1500 */
  enqueueTimeoutMs?: number;
}

export type QueueCounts = Record<'waiting' | 'prioritized' | 'active' | 'delayed' | 'completed' | 'failed' | 'paused' | 'waiting-children', number>;

/** The producer side of the inference queue, used by the API. */
export class InferenceQueue {
  readonly queue: Queue<InferenceJobPayload>;
  readonly connection: Redis;
  readonly policy: InferenceJobPolicy;
  readonly #enqueueTimeoutMs: number;

  constructor(options: InferenceQueueOptions) {
    this.connection = options.connection;
    this.policy = options.policy ?? defaultInferenceJobPolicy;
    this.#enqueueTimeoutMs = options.enqueueTimeoutMs ?? 1500;
    this.queue = new Queue<InferenceJobPayload>(options.name ?? inferenceQueueName, {
      connection: options.connection,
      prefix: options.prefix ?? 'inferq',
    });
    // The queue re-emits connection errors; they are reported through readiness, not crashes.
    this.queue.on('error', () => {});
  }

  get name(): string {
    return this.queue.name;
  }

  isReady(): boolean {
    return isRedisReady(this.connection);
  }

  /**
   * Enqueues one job; the BullMQ job id is the row id, so a second enqueue of the same job is a
   * no-op. Throws QUEUE_UNAVAILABLE quickly when Redis cannot take it.
   */
  async enqueue(payload: InferenceJobPayload, options: { priority?: number } = {}): Promise<void> {
    const data = inferenceJobPayloadSchema.parse(payload);
    if (!this.isReady()) throw queueUnavailable();
    try {
      await withTimeout(this.queue.add('infer', data, inferenceJobOptions(data.jobId, this.policy, options.priority)), this.#enqueueTimeoutMs);
    } catch (error) {
      throw queueUnavailable(error);
    }
  }

  /**
   * Enqueues many jobs in one round trip (BullMQ addBulk: one MULTI of the add scripts), each
   * with its own priority; like {@link enqueue}, a job already in the queue is left as it is.
   * All or nothing as far as the caller can tell: on QUEUE_UNAVAILABLE none is known to be queued.
   */
  async enqueueMany(entries: ReadonlyArray<{ payload: InferenceJobPayload; priority?: number | undefined }>): Promise<void> {
    if (entries.length === 0) return;
    const jobs = entries.map((entry) => {
      const data = inferenceJobPayloadSchema.parse(entry.payload);
      return { name: 'infer', data, opts: inferenceJobOptions(data.jobId, this.policy, entry.priority) };
    });
    if (!this.isReady()) throw queueUnavailable();
    try {
      await withTimeout(this.queue.addBulk(jobs), this.#enqueueTimeoutMs);
    } catch (error) {
      throw queueUnavailable(error);
    }
  }

  /** Removes a job that has not started yet. Returns false when it is running or gone. */
  async remove(jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job) return false;
    try {
      await job.remove();
      return true;
    } catch {
      return false; // locked by a worker: it is running
    }
  }

  /**
   * Removes the entries of jobs that are gone from Postgres (an operator's clean), in batches;
   * an entry a worker holds stays, and an id the queue no longer has is skipped.
   */
  async removeMany(jobIds: readonly string[]): Promise<void> {
    for (let start = 0; start < jobIds.length; start += 200) {
      await Promise.all(jobIds.slice(start, start + 200).map((id) => this.queue.remove(id).catch(() => 0)));
    }
  }

  /**
   * Jobs in the system: waiting, prioritized, running, delayed for a retry or paused. A few
   * O(1) Redis reads (LLEN/ZCARD), cheap enough to check on every submit.
   */
  async inFlightCount(): Promise<number> {
    const counts = await withTimeout(this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'paused'), this.#enqueueTimeoutMs);
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  }

  async counts(): Promise<QueueCounts> {
    const counts = await this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed', 'paused', 'waiting-children');
    return counts as QueueCounts;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

