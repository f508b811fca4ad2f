import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FileBlobStore, inputBlobKey } from '@inferq/storage';
import { createTestUser } from '@inferq/testing';
import { createDatabase, JobAdmission, JobExecution, moveInputsToBlobs, sqlPool, type Database } from '../src/index.ts';

describe('moving inputs out of Postgres', () => {
  let db: Database;
  let folder: string;

  beforeAll(async () => {
    db = createDatabase({ url: inject('databaseUrl'), poolSize: 4 });
    folder = await mkdtemp(path.join(tmpdir(), 'inferq-move-'));
  });
  afterAll(async () => {
    await db.$disconnect();
    await rm(folder, { recursive: true, force: true });
  });

  it('copies each input to the store, clears its bytes, and does nothing more when run again', async () => {
    const user = await createTestUser(inject('databaseUrl'));
    const admission = new JobAdmission(db);
    const inputs = Array.from({ length: 7 }, (_, i) => Buffer.alloc(1000 + i, i + 1));
    const requests = inputs.map((data) => ({
      job: {
        id: randomUUID(),
        userId: user.userId,
        modelName: 'nsfw',
        input: { data, format: 'png', width: 64, height: 64, sha256: 'x' },
      },
      limit: { maxInFlight: 100 },
    }));
    const results = await admission.admitMany(requests);
    expect(results.every((result) => result.outcome === 'created')).toBe(true);
    const ids = requests.map((request) => request.job.id);
    const store = new FileBlobStore(folder);

    // One user's inputs only: other tests' rows in this database stay as they are.
    const first = await moveInputsToBlobs(db, store, { keyOf: inputBlobKey, batchSize: 3, userId: user.userId });
    expect(first.moved).toBe(7);
    const { rows } = await sqlPool(db).query<{ job_id: string; data: Buffer | null; blob_key: string | null }>(
      'SELECT job_id, data, blob_key FROM job_inputs WHERE job_id = ANY($1::uuid[])',
      [ids],
    );
    expect(rows).toHaveLength(7);
    for (const row of rows) {
      expect(row.data).toBeNull();
      expect(row.blob_key).toBe(inputBlobKey(row.job_id));
    }
    for (const [i, id] of ids.entries())
      expect(Buffer.compare((await store.get(inputBlobKey(id)))!, inputs[i]!)).toBe(0);
    // The worker's read follows the row to the store.
    expect(await new JobExecution(db).inputOf(ids[0]!)).toEqual({ blobKey: inputBlobKey(ids[0]!) });

    const again = await moveInputsToBlobs(db, store, { keyOf: inputBlobKey, userId: user.userId });
    const stillOurs = (await store.list('inputs/')).filter((key) => ids.some((id) => key.endsWith(id)));
    expect(stillOurs).toHaveLength(7);
    expect(again.moved).toBe(0);
  });
});
