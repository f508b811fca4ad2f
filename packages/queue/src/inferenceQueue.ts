import { randomUUID } from 'node:crypto';
import { Queue, type JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  defaultInferenceJobPolicy,
  inferenceJobOptions,
  inferenceJobPayloadSchema,
  inferenceQueueName,
  modelQueueName,
  queueUnavailable,
  shadowQueueName,
  type InferenceJobPayload,
  type InferenceJobPolicy,
} from '@inferq/core';
import { evalCached, isRedisReady, withTimeout } from './redis.ts';

export interface InferenceQueueOptions {
  /** A producer connection (see createRedisConnection). */
  connection: Redis;
  /**
   * The connection its BullMQ queues use, a producer one too; its owner closes it. BullMQ
   * defines some fifty scripts on the connection it is given, and ioredis copies every script
   * defined on a connection onto each pipeline made there: 22 µs and several kilobytes of garbage
   * a pipeline, against 2 µs on a connection without them. Apart, the queue's own pipelines (the
   * queue positions) and those of whoever shares `connection` (job events, pixels) stay cheap.
   * @defaultValue connection
   */
  bullmqConnection?: Redis;
  /** Base name: a model's jobs go to the queue `modelQueueName(model, name)`. @defaultValue "inference" */
  name?: string;
  /** BullMQ key prefix. @defaultValue "inferq" */
  prefix?: string;
  /** @defaultValue defaultInferenceJobPolicy */
  policy?: InferenceJobPolicy;
  /** How long an enqueue may take before the API gives up with 503. @defaultValue 1500 */
  enqueueTimeoutMs?: number;
  /**
   * The models whose queues are counted (the global cap, queue depth, the operators' view): the
   * registry's names. Queues this process has enqueued to are counted too. @defaultValue none
   */
  models?: () => Promise<readonly string[]> | readonly string[];
  /** How long the list of models is reused. @defaultValue 5000 */
  modelsCacheMs?: number;
  /**
   * Shadow runs one model's shadow queue holds at most (waiting to run). Shadows beyond it are
   * dropped and counted (`shadowsDropped`); a primary is never refused for a shadow. @defaultValue 1000
   */
  maxShadowBacklog?: number;
}

export type QueueCounts = Record<
  'waiting' | 'prioritized' | 'active' | 'delayed' | 'completed' | 'failed' | 'paused' | 'waiting-children',
  number
>;
const countedStates = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'completed',
  'failed',
  'paused',
  'waiting-children',
] as const;
const inFlightStates = ['waiting', 'prioritized', 'active', 'delayed', 'paused'] as const;

/**
 * The global cap's reservation, atomic in one script: the jobs in every model's queue (the state
 * keys BullMQ's own getCounts reads: LLEN of wait, paused and active, ZCARD of prioritized and
 * delayed) plus the reservations of admissions still between their check and their enqueue,
 * against the cap. It grants up to the count asked for and records the grant, with an expiry, so
 * concurrent admissions (any API process) never grant the same room twice.
 *
 * KEYS[1]: the reservations (sorted set: member `<id>:<count>`, score its expiry in ms);
 * KEYS[2 .. 1+ARGV[4]]: list keys; the rest: sorted-set keys.
 * ARGV: cap, count asked for, reservation lifetime in ms, list key count, reservation id.
 * Returns { granted, jobs in the queues, reserved by others }.
 */
const reserveCapacityScript = `
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowMs)
local reserved = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  reserved = reserved + tonumber(string.match(member, ':(%d+)$'))
end
local lists = tonumber(ARGV[4])
local queued = 0
for i = 2, #KEYS do
  if i <= lists + 1 then queued = queued + redis.call('LLEN', KEYS[i]) else queued = queued + redis.call('ZCARD', KEYS[i]) end
end
local granted = math.max(0, math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - queued - reserved))
if granted > 0 then
  redis.call('ZADD', KEYS[1], nowMs + tonumber(ARGV[3]), ARGV[5] .. ':' .. granted)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return { granted, queued, reserved }
`;

/** Room in the global cap granted to one admission; release it once its jobs are queued (or not). */
export interface CapacityReservation {
  /** How many of the jobs asked for fit: the first `granted` of them may be admitted. */
  granted: number;
  /** Jobs in the queues when it was granted, and room other admissions held then. */
  inFlight: number;
  release(): Promise<void>;
}

/** How long a reservation holds room when its admission never releases it (a process killed mid-submit). */
const reservationLifetimeMs = 30_000;

function emptyCounts(): QueueCounts {
  return Object.fromEntries(countedStates.map((state) => [state, 0])) as QueueCounts;
}

/**
 * The producer side of the inference queues: one BullMQ queue per model, so a worker takes only
 * jobs of the models it serves (BullMQ routes by queue, not by looking into jobs). Used by the
 * API (enqueue, cancel, the global cap) and by the reconciler (state lookups, re-enqueues).
 */
export class InferenceQueue {
  readonly connection: Redis;
  /** What its BullMQ queues run on (see InferenceQueueOptions.bullmqConnection). */
  readonly bullmqConnection: Redis;
  readonly policy: InferenceJobPolicy;
  /** The base name; `modelQueueName(model, baseName)` is each model's queue. */
  readonly baseName: string;
  readonly prefix: string;
  readonly #enqueueTimeoutMs: number;
  readonly #options: InferenceQueueOptions;
  readonly #queues = new Map<string, Queue<InferenceJobPayload>>();
  readonly #shadowQueues = new Map<string, Queue<InferenceJobPayload>>();
  /** Per model: the check, on its queue's first add here, that the operators did not pause every queue meanwhile. */
  readonly #pauseChecked = new Map<string, Promise<void>>();
  #legacy: Queue<InferenceJobPayload> | undefined;
  #models: { at: number; names: Promise<readonly string[]> } | undefined;

  constructor(options: InferenceQueueOptions) {
    this.#options = options;
    this.connection = options.connection;
    this.bullmqConnection = options.bullmqConnection ?? options.connection;
    this.policy = options.policy ?? defaultInferenceJobPolicy;
    this.baseName = options.name ?? inferenceQueueName;
    this.prefix = options.prefix ?? 'inferq';
    this.#enqueueTimeoutMs = options.enqueueTimeoutMs ?? 1500;
  }

  /** The base name (what operators see as "the queue"). */
  get name(): string {
    return this.baseName;
  }

  isReady(): boolean {
    return isRedisReady(this.connection) && isRedisReady(this.bullmqConnection);
  }

  /** The BullMQ queue of one model (made on first use). */
  queueFor(model: string): Queue<InferenceJobPayload> {
    let queue = this.#queues.get(model);
    if (!queue) {
      queue = this.#open(modelQueueName(model, this.baseName));
      this.#queues.set(model, queue);
    }
    return queue;
  }

  /** The BullMQ queue of one model's shadow runs (made on first use). */
  shadowQueueFor(model: string): Queue<InferenceJobPayload> {
    let queue = this.#shadowQueues.get(model);
    if (!queue) {
      queue = this.#open(shadowQueueName(model, this.baseName));
      this.#shadowQueues.set(model, queue);
    }
    return queue;
  }

  /** Where the shadows dropped for a full backlog are counted, per model. */
  #droppedKey(model: string): string {
    return `${this.prefix}:${shadowQueueName(model, this.baseName)}:dropped`;
  }

  /**
   * Set while the operators have every queue paused (pause() to resume()). BullMQ keeps a paused
   * flag per queue, and a model published after the pause gets a queue of its own that nobody
   * paused: this flag is what makes that queue start paused too (checked on its first add).
   */
  get #pausedKey(): string {
    return `${this.prefix}:${this.baseName}:queues-paused`;
  }

  /** A model's queue to add jobs to: paused first, when its first add here finds every queue paused. */
  async #queueToAdd(model: string): Promise<Queue<InferenceJobPayload>> {
    const queue = this.queueFor(model);
    let checked = this.#pauseChecked.get(model);
    if (!checked) {
      checked = this.connection.exists(this.#pausedKey).then(async (set) => {
        if (set) await queue.pause();
      });
      this.#pauseChecked.set(model, checked);
      // A failed check (Redis away) is made again on the next add.
      checked.catch(() => this.#pauseChecked.delete(model));
    }
    await checked;
    return queue;
  }

  #open(name: string): Queue<InferenceJobPayload> {
    const queue = new Queue<InferenceJobPayload>(name, { connection: this.bullmqConnection, prefix: this.prefix });
    // The queue re-emits connection errors; they are reported through readiness, not crashes.
    queue.on('error', () => {});
    return queue;
  }

  /** The models whose queues are counted: the registry's (reused for a few seconds) and those used here. */
  async models(): Promise<string[]> {
    const source = this.#options.models;
    let listed: readonly string[] = [];
    if (source) {
      const now = performance.now();
      if (!this.#models || now - this.#models.at > (this.#options.modelsCacheMs ?? 5000)) {
        const names = Promise.resolve(source());
        this.#models = { at: now, names };
        // A failed read is not remembered.
        names.catch(() => (this.#models = undefined));
      }
      listed = await this.#models.names.catch(() => []);
    }
    return [...new Set([...listed, ...this.#queues.keys()])].sort();
  }

  /**
   * Enqueues one job on its model's queue; the BullMQ job id is the row id, so a second enqueue of
   * the same job is a no-op. Throws QUEUE_UNAVAILABLE quickly when Redis cannot take it.
   */
  async enqueue(payload: InferenceJobPayload, options: { priority?: number } = {}): Promise<void> {
    const data = inferenceJobPayloadSchema.parse(payload);
    if (!this.isReady()) throw queueUnavailable();
    try {
      const add = async () =>
        (await this.#queueToAdd(data.model)).add(
          'infer',
          data,
          inferenceJobOptions(data.jobId, this.policy, options.priority, data.shadow === true),
        );
      await withTimeout(add(), this.#enqueueTimeoutMs);
    } catch (error) {
      throw queueUnavailable(error);
    }
  }

  /**
   * Enqueues many jobs, each on its model's queue with its own priority: one BullMQ addBulk (one
   * MULTI of the add scripts, one round trip) per model, the models' in parallel; a model's single
   * job is one add, its script alone (no MULTI, EXEC or pipeline around it). Like
   * {@link enqueue}, a job already queued is left as it is. On QUEUE_UNAVAILABLE the caller treats
   * none as queued: an entry that did reach a queue finds no row (the caller discards them) and the
   * worker skips it.
   */
  async enqueueMany(
    entries: ReadonlyArray<{ payload: InferenceJobPayload; priority?: number | undefined }>,
  ): Promise<void> {
    if (entries.length === 0) return;
    const byModel = new Map<
      string,
      Array<{ name: string; data: InferenceJobPayload; opts: ReturnType<typeof inferenceJobOptions> }>
    >();
    for (const entry of entries) {
      const data = inferenceJobPayloadSchema.parse(entry.payload);
      const jobs = byModel.get(data.model) ?? [];
      jobs.push({
        name: 'infer',
        data,
        opts: inferenceJobOptions(data.jobId, this.policy, entry.priority, data.shadow === true),
      });
      byModel.set(data.model, jobs);
    }
    if (!this.isReady()) throw queueUnavailable();
    try {
      await withTimeout(
        Promise.all(
          [...byModel].map(async ([model, jobs]) => {
            const queue = await this.#queueToAdd(model);
            const [only] = jobs;
            await (jobs.length === 1 && only ? queue.add(only.name, only.data, only.opts) : queue.addBulk(jobs));
          }),
        ),
        this.#enqueueTimeoutMs,
      );
    } catch (error) {
      throw queueUnavailable(error);
    }
  }

  /**
   * Enqueues shadow runs on their models' shadow queues, up to `maxShadowBacklog` waiting per
   * model; the rest are dropped and counted. Best effort by design: the primaries are already
   * queued, and a shadow is a measurement nobody waits for. Returns how many were dropped.
   */
  async enqueueShadows(payloads: readonly InferenceJobPayload[]): Promise<number> {
    if (payloads.length === 0) return 0;
    const byModel = new Map<string, InferenceJobPayload[]>();
    for (const payload of payloads) {
      const data = inferenceJobPayloadSchema.parse({ ...payload, shadow: true });
      byModel.set(data.model, [...(byModel.get(data.model) ?? []), data]);
    }
    if (!this.isReady()) throw queueUnavailable();
    const cap = this.#options.maxShadowBacklog ?? 1000;
    const dropped = await withTimeout(
      Promise.all(
        [...byModel].map(async ([model, jobs]) => {
          const queue = this.shadowQueueFor(model);
          // The check and the add are not atomic: concurrent submits may overshoot the cap by a
          // group's worth, which bounds the backlog just as well.
          const waiting = await queue.getWaitingCount();
          const room = Math.max(0, cap - waiting);
          const taken = jobs.slice(0, room);
          if (taken.length > 0)
            await queue.addBulk(
              taken.map((data) => ({
                name: 'infer',
                data,
                opts: inferenceJobOptions(data.jobId, this.policy, undefined, true),
              })),
            );
          const over = jobs.length - taken.length;
          if (over > 0) await this.connection.incrby(this.#droppedKey(model), over);
          return over;
        }),
      ),
      this.#enqueueTimeoutMs,
    );
    return dropped.reduce((a, b) => a + b, 0);
  }

  /** Shadow runs of `model` dropped so far because its shadow backlog was full. */
  async shadowsDropped(model: string): Promise<number> {
    return Number((await this.connection.get(this.#droppedKey(model))) ?? 0);
  }

  /** The BullMQ entry of a job of `model`, if its queue still has one. */
  async getJob(jobId: string, model: string) {
    return (await this.queueFor(model).getJob(jobId)) ?? undefined;
  }

  /**
   * Each job's place in its model's queue as workers take jobs, 1 being next; null for a job not
   * waiting there (running, delayed for a retry, gone). BullMQ's workers take from the `wait` list
   * first (jobs without a priority, oldest first: RPOPLPUSH from its right end), then from the
   * `prioritized` sorted set, lowest score first (the score is the priority, then the order of
   * arrival). So a prioritized job's place is the wait list's length plus its rank. Three commands
   * a job, all in one pipeline: one round trip for a page of jobs.
   */
  async positions(entries: ReadonlyArray<{ jobId: string; model: string }>): Promise<Array<number | null>> {
    if (entries.length === 0) return [];
    const pipeline = this.connection.pipeline();
    for (const { jobId, model } of entries) {
      const keys = this.queueFor(model).keys;
      pipeline.zrank(keys.prioritized!, jobId).llen(keys.wait!).lpos(keys.wait!, jobId);
    }
    const answers = await withTimeout(pipeline.exec(), this.#enqueueTimeoutMs);
    if (!answers) return entries.map(() => null);
    return entries.map((_, i) => {
      const [rank, waiting, index] = answers
        .slice(i * 3, i * 3 + 3)
        .map(([error, value]) => (error ? null : value)) as [number | null, number | null, number | null];
      if (waiting === null) return null;
      if (index !== null) return waiting - index;
      return rank === null ? null : waiting + rank + 1;
    });
  }

  /** BullMQ's state of a job of `model` ('unknown' when its queue has no entry). */
  async state(jobId: string, model: string): Promise<JobState | 'unknown'> {
    return this.queueFor(model).getJobState(jobId);
  }

  /** Removes a job that has not started yet. Returns false when it is running or gone. */
  async remove(jobId: string, model: string): Promise<boolean> {
    const job = await this.queueFor(model).getJob(jobId);
    if (!job) return false;
    try {
      await job.remove();
      return true;
    } catch {
      return false; // locked by a worker: it is running
    }
  }

  /** Removes a job's entry whatever its state (retention, re-enqueues); 0 when there was none. */
  async discard(jobId: string, model: string): Promise<number> {
    return this.queueFor(model).remove(jobId);
  }

  /**
   * Removes the entries of jobs that are gone from Postgres (an operator's clean), from every
   * model's queue, in batches; an entry a worker holds stays, and an id a queue does not have is
   * skipped (one Redis script call each, a no-op for an absent id).
   */
  async removeMany(jobIds: readonly string[]): Promise<void> {
    const queues = (await this.models()).map((model) => this.queueFor(model));
    for (let start = 0; start < jobIds.length; start += 200) {
      const ids = jobIds.slice(start, start + 200);
      await Promise.all(queues.flatMap((queue) => ids.map((id) => queue.remove(id).catch(() => 0))));
    }
  }

  /**
   * Jobs in the system, over every model's queue: waiting, prioritized, running, delayed for a
   * retry or paused. A few O(1) Redis reads per model (LLEN/ZCARD), pipelined on one connection:
   * cheap enough to check on every submit.
   */
  async inFlightCount(): Promise<number> {
    const models = await this.models();
    const counts = await withTimeout(
      Promise.all(
        [...models.map((model) => this.queueFor(model)), this.#legacyQueue()].map((queue) =>
          queue.getJobCounts(...inFlightStates),
        ),
      ),
      this.#enqueueTimeoutMs,
    );
    return counts.reduce((sum, byState) => sum + Object.values(byState).reduce((a, b) => a + b, 0), 0);
  }

  /**
   * Reserves room in the global cap (`cap` queued + running jobs, over every model's queue) for
   * up to `count` jobs, atomically against every other reservation in flight (see
   * reserveCapacityScript): the cap then holds per job, however many admissions run at once.
   * Jobs enqueued before the release are counted twice for that moment, which errs on refusing.
   * Throws QUEUE_UNAVAILABLE when Redis cannot answer.
   */
  async reserveCapacity(count: number, cap: number): Promise<CapacityReservation> {
    const queues = [...(await this.models()).map((model) => this.queueFor(model)), this.#legacyQueue()];
    const lists = queues.flatMap((queue) => [queue.keys.wait, queue.keys.paused, queue.keys.active]) as string[];
    const sets = queues.flatMap((queue) => [queue.keys.prioritized, queue.keys.delayed]) as string[];
    const id = randomUUID();
    let answer: [number, number, number];
    try {
      if (!this.isReady()) throw new Error('Redis is not connected');
      const keys = [this.#reservationsKey, ...lists, ...sets];
      answer = (await withTimeout(
        evalCached(
          this.connection,
          reserveCapacityScript,
          keys.length,
          ...keys,
          String(cap),
          String(count),
          String(reservationLifetimeMs),
          String(lists.length),
          id,
        ),
        this.#enqueueTimeoutMs,
      )) as [number, number, number];
    } catch (error) {
      throw queueUnavailable(error);
    }
    const [granted, queued, reserved] = answer;
    const member = `${id}:${granted}`;
    return {
      granted,
      inFlight: queued + reserved,
      release: async () => {
        // Past its lifetime it is gone anyway; a failed release only holds the room that long.
        if (granted > 0) await this.connection.zrem(this.#reservationsKey, member).catch(() => 0);
      },
    };
  }

  get #reservationsKey(): string {
    return `${this.prefix}:${this.baseName}:capacity-reservations`;
  }

  /** Job counts by BullMQ state for each model's queue. */
  async countsByModel(): Promise<Record<string, QueueCounts>> {
    const models = await this.models();
    const counts = await Promise.all(models.map((model) => this.queueFor(model).getJobCounts(...countedStates)));
    return Object.fromEntries(models.map((model, i) => [model, { ...emptyCounts(), ...counts[i] } as QueueCounts]));
  }

  /** Job counts by BullMQ state over every model's queue. */
  async counts(): Promise<QueueCounts> {
    const total = emptyCounts();
    for (const counts of Object.values(await this.countsByModel())) {
      for (const state of countedStates) total[state] += counts[state];
    }
    return total;
  }

  /** Whether taking jobs is paused: every model's queue paused (none when there is no queue). */
  async isPaused(): Promise<boolean> {
    const models = await this.models();
    if (models.length === 0) return false;
    const paused = await Promise.all(models.map((model) => this.queueFor(model).isPaused()));
    return paused.every(Boolean);
  }

  /**
   * Stops workers taking new jobs from every model's queue (jobs already held finish), and from
   * the queue of a model published later: its first add, in any process, finds the flag and
   * pauses it. The flag goes first, so a queue first used meanwhile is paused either way.
   */
  async pause(): Promise<void> {
    await this.connection.set(this.#pausedKey, '1');
    // The registry read fresh: a model published a moment ago may already have jobs queued.
    this.#models = undefined;
    await Promise.all((await this.models()).map((model) => this.queueFor(model).pause()));
  }

  async resume(): Promise<void> {
    await this.connection.del(this.#pausedKey);
    this.#models = undefined;
    await Promise.all((await this.models()).map((model) => this.queueFor(model).resume()));
  }

  /** The one queue every model's jobs went to before there was a queue per model. */
  #legacyQueue(): Queue<InferenceJobPayload> {
    this.#legacy ??= this.#open(this.baseName);
    return this.#legacy;
  }

  /**
   * Moves the jobs still waiting in the single queue of earlier versions (named like the base)
   * to their model's queue, with their id and priority. A job an old worker takes meanwhile
   * cannot be removed and may then run twice, which the conditional row writes make harmless.
   * Returns how many moved.
   */
  async migrateLegacy(limit = 500): Promise<number> {
    const legacy = this.#legacyQueue();
    const jobs = await legacy.getJobs(['waiting', 'prioritized', 'delayed', 'paused'], 0, limit - 1);
    let moved = 0;
    for (const job of jobs) {
      const parsed = inferenceJobPayloadSchema.safeParse(job.data);
      if (!parsed.success || !job.id) continue;
      await (
        await this.#queueToAdd(parsed.data.model)
      ).add('infer', parsed.data, inferenceJobOptions(job.id, this.policy, job.opts.priority || undefined));
      try {
        await job.remove();
        moved++;
      } catch {
        // taken by an old worker between the read and the removal
      }
    }
    return moved;
  }

  /** Waits until the connection is up (tests and start-up checks). */
  async waitUntilReady(): Promise<void> {
    await this.#legacyQueue().waitUntilReady();
  }

  /** Deletes every model's queue and the legacy one with all their jobs (tests clean up with it). */
  async obliterate(): Promise<void> {
    const models = await this.models();
    await Promise.all(
      [...models.flatMap((model) => [this.queueFor(model), this.shadowQueueFor(model)]), this.#legacyQueue()].map(
        (queue) => queue.obliterate({ force: true }),
      ),
    );
    await this.connection.del(
      this.#pausedKey,
      this.#reservationsKey,
      ...models.map((model) => this.#droppedKey(model)),
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.#queues.values(), ...this.#shadowQueues.values(), ...(this.#legacy ? [this.#legacy] : [])].map((queue) =>
        queue.close(),
      ),
    );
  }
}
