import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createDatabase, JobAdmission, JobExecution, type Database } from '@inferq/db';
import { JobLifecycle } from '@inferq/lifecycle';
import { JobEventLog, JobEventPublisher, jobEventsStreamKey, type InferenceQueue } from '@inferq/queue';
import { closeTestQueue, openTestQueue } from '@inferq/queue/testing';
import { FileBlobStore, inputBlobKey, type BlobStore } from '@inferq/storage';
import { createTestUser } from '@inferq/testing';
import { disabledTracing } from '@inferq/tracing';
import { QueueAdmission, type PendingAdmission } from '../src/queueAdmission.ts';

describe('QueueAdmission.checkCapacity', () => {
  let queue: InferenceQueue;
  // checkCapacity reads the queues only; the admission writes are not reached.
  const admission = {} as JobAdmission;

  beforeAll(async () => {
    queue = await openTestQueue({ url: inject('redisUrl'), prefix: inject('queuePrefix') });
  });
  afterAll(() => closeTestQueue(queue));

  const enqueue = (count: number) =>
    queue.enqueueMany(Array.from({ length: count }, () => ({ payload: { jobId: randomUUID(), model: 'nsfw' } })));

  it('reuses a recent read under the cap, and reads again once it is older or the platform was full', async () => {
    const reused = new QueueAdmission({ admission, queue, maxQueuedJobs: 2, capacityReadMaxAgeMs: 60_000 });
    const fresh = new QueueAdmission({ admission, queue, maxQueuedJobs: 2, capacityReadMaxAgeMs: 0 });
    expect(await reused.checkCapacity()).toBe(0);
    await enqueue(2);
    // Within its age the first read stands (the per-job reservation still holds the cap)…
    expect(await reused.checkCapacity()).toBe(0);
    // …while a process that reads every time sees the full platform.
    await expect(fresh.checkCapacity()).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    // A full answer is never reused: once room is made, the next check sees it.
    await queue.obliterate();
    await queue.waitUntilReady();
    expect(await fresh.checkCapacity()).toBe(0);
  });
});

describe('QueueAdmission with a blob store', () => {
  let queue: InferenceQueue;
  let db: Database;
  let folder: string;

  beforeAll(async () => {
    queue = await openTestQueue({ url: inject('redisUrl'), prefix: inject('queuePrefix') });
    db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
    folder = await mkdtemp(path.join(tmpdir(), 'inferq-admission-'));
  });
  afterAll(async () => {
    await closeTestQueue(queue);
    await db.$disconnect();
    await rm(folder, { recursive: true, force: true });
  });

  const pendingFor = (userId: string, data: Buffer): PendingAdmission => {
    const id = randomUUID();
    return {
      request: {
        job: { id, userId, modelName: 'nsfw', input: { data, format: 'png', width: 64, height: 64, sha256: 'x' } },
        limit: { maxInFlight: 100 },
      },
      payload: { jobId: id, model: 'nsfw' },
      shadow: undefined,
      pixels: undefined,
      span: disabledTracing.startSpan('test'),
    };
  };
  const storedInputs = async (store: BlobStore) => (await store.list('inputs/')).sort();

  it('writes each input while its admission waits for its group, and keeps only those of the jobs it made', async () => {
    await queue.obliterate();
    await queue.waitUntilReady();
    const { userId } = await createTestUser(inject('databaseUrl'));
    const blobs = new FileBlobStore(path.join(folder, 'cap'));
    const admission = new QueueAdmission({ admission: new JobAdmission(db), queue, blobs, maxQueuedJobs: 3 });
    const pending = Array.from({ length: 5 }, (_, i) => pendingFor(userId, Buffer.alloc(500 + i, i + 1)));
    // One alone, then four in one group while the first is on its way: their inputs are written
    // meanwhile. Both groups reserve room in the same tick, before the first job is queued. (Four
    // single submits would make three groups, two at a time, and the third would reserve at a
    // moment of its own: between a job's enqueue and its group's release that job counts twice,
    // which refuses one more than the cap, as the reservation means to err.)
    const [first, group] = await Promise.all([admission.admit(pending[0]!), admission.admitAll(pending.slice(1))]);
    const outcomes = [first, ...group];
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['created', 'created', 'created', 'failed', 'failed']);
    expect(outcomes[3]).toMatchObject({ error: { code: 'QUEUE_FULL' } });
    // The cap's refusals wrote their inputs before they knew: those are gone again.
    const made = pending.slice(0, 3).map((one) => inputBlobKey(one.request.job.id));
    expect(await storedInputs(blobs)).toEqual(made.sort());
    for (const one of pending.slice(0, 3))
      expect(Buffer.compare((await blobs.get(inputBlobKey(one.request.job.id)))!, one.request.job.input.data)).toBe(0);
    expect(await db.job.count({ where: { userId } })).toBe(3);
  });

  it('refuses the group with STORAGE_UNAVAILABLE when a write fails: no row, and no input left behind', async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    // The second write fails, as a full disk would.
    class FailingStore extends FileBlobStore {
      puts = 0;
      override async put(key: string, body: Buffer): Promise<void> {
        if (++this.puts === 2) throw new Error('ENOSPC');
        await super.put(key, body);
      }
    }
    const store = new FailingStore(path.join(folder, 'failing'));
    const blobs: BlobStore = store;
    const admission = new QueueAdmission({ admission: new JobAdmission(db), queue, blobs });
    const outcomes = await admission.admitAll([
      pendingFor(userId, Buffer.alloc(10, 1)),
      pendingFor(userId, Buffer.alloc(10, 2)),
    ]);
    for (const outcome of outcomes)
      expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'STORAGE_UNAVAILABLE' } });
    expect(await storedInputs(store)).toEqual([]);
    expect(await db.job.count({ where: { userId } })).toBe(0);
  });
});

describe('QueueAdmission announcements', () => {
  let queue: InferenceQueue;
  let db: Database;

  beforeAll(async () => {
    queue = await openTestQueue({ url: inject('redisUrl'), prefix: inject('queuePrefix') });
    db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
  });
  afterAll(async () => {
    await closeTestQueue(queue);
    await db.$disconnect();
  });

  it("announces jobs queued before they are enqueued, so no worker's event of theirs can be heard first", async () => {
    const { userId } = await createTestUser(inject('databaseUrl'));
    const prefix = `${inject('queuePrefix')}:announce-${randomUUID()}`;
    const events = new JobEventPublisher({ connection: queue.connection, prefix });
    const log = new JobEventLog({ blocking: queue.connection, reads: queue.connection, prefix });
    const admission = new QueueAdmission({
      admission: new JobAdmission(db),
      queue,
      lifecycle: new JobLifecycle({ execution: new JobExecution(db), events }),
    });
    // What the event log holds at the moment each group goes into the queue, where a worker can take it.
    const heardAtEnqueue: string[][] = [];
    const enqueueMany = queue.enqueueMany.bind(queue);
    queue.enqueueMany = async (entries) => {
      heardAtEnqueue.push((await log.readAfter('0-0', 100)).map(({ event }) => `${event.jobId} ${event.status}`));
      return enqueueMany(entries);
    };
    const ids = [randomUUID(), randomUUID()];
    try {
      const outcomes = await admission.admitAll(
        ids.map((id) => ({
          request: {
            job: {
              id,
              userId,
              modelName: 'nsfw',
              input: { data: Buffer.alloc(8, 1), format: 'png', width: 8, height: 8, sha256: 'x' },
            },
            limit: { maxInFlight: 100 },
          },
          payload: { jobId: id, model: 'nsfw' },
          shadow: undefined,
          pixels: undefined,
          span: disabledTracing.startSpan('test'),
        })),
      );
      expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['created', 'created']);
      expect(heardAtEnqueue).toEqual([ids.map((id) => `${id} queued`)]);
    } finally {
      delete (queue as Partial<InferenceQueue>).enqueueMany;
      await queue.connection.del(jobEventsStreamKey(prefix));
    }
  });
});
