import type pg from 'pg';
import { sqlPool, type Database } from './client.ts';

/** Where a job's input is: its bytes in Postgres (`job_inputs.data`), or its key in the blob store. */
export type StoredInput = { data: Buffer; blobKey?: undefined } | { blobKey: string; data?: undefined };

/** What moving inputs needs of a blob store (see @inferq/storage's BlobStore). */
export interface InputBlobTarget {
  put(key: string, body: Buffer): Promise<void>;
  delete(keys: readonly string[]): Promise<void>;
}

export interface MoveInputsOptions {
  /** The blob key of a job's input (@inferq/storage's inputBlobKey). */
  keyOf: (jobId: string) => string;
  /** Rows read, copied and cleared per round. @defaultValue 100 */
  batchSize?: number;
  /** Blobs written at once. @defaultValue 8 */
  concurrency?: number;
  /** Only this user's inputs (a trial on one account before the whole table). @defaultValue every user's */
  userId?: string | undefined;
  /** Called after each round with the total so far. */
  onProgress?: (moved: number) => void;
}

/**
 * Moves the input bytes still held in Postgres to the blob store, a round of `batchSize` rows at a
 * time: each round reads rows that have bytes and no blob key, writes each blob, then in one
 * statement sets the key and clears the bytes of the rows still in that state. Safe to stop and run
 * again at any point: a row is cleared only after its blob is written, a blob written again holds
 * the same bytes, and a job deleted meanwhile has its fresh blob deleted too. Returns how many
 * inputs were moved. The space the bytes held is reused by Postgres after VACUUM (given back to
 * the operating system only by VACUUM FULL).
 */
export async function moveInputsToBlobs(
  db: Database,
  store: InputBlobTarget,
  options: MoveInputsOptions,
): Promise<{ moved: number }> {
  const sql: pg.Pool = sqlPool(db);
  const batchSize = options.batchSize ?? 100;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  let moved = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await sql.query<{ job_id: string; data: Buffer }>(
      `SELECT i.job_id, i.data FROM job_inputs i
        WHERE i.blob_key IS NULL AND i.data IS NOT NULL AND i.job_id > $1
          AND ($3::uuid IS NULL OR i.job_id IN (SELECT id FROM jobs WHERE user_id = $3::uuid))
        ORDER BY i.job_id LIMIT $2`,
      [after, batchSize, options.userId ?? null],
    );
    if (rows.length === 0) return { moved };
    after = rows.at(-1)!.job_id;
    const queue = [...rows];
    await Promise.all(
      Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
        for (let row = queue.shift(); row; row = queue.shift()) await store.put(options.keyOf(row.job_id), row.data);
      }),
    );
    const ids = rows.map((row) => row.job_id);
    const keys = ids.map((id) => options.keyOf(id));
    const { rows: updated } = await sql.query<{ job_id: string }>(
      `UPDATE job_inputs i SET blob_key = m.key, data = NULL
         FROM unnest($1::uuid[], $2::text[]) AS m(id, key)
        WHERE i.job_id = m.id AND i.blob_key IS NULL
    RETURNING i.job_id`,
      [ids, keys],
    );
    const kept = new Set(updated.map((row) => row.job_id));
    // Deleted while its blob was written: the blob must not outlive the job.
    const orphans = ids.filter((id) => !kept.has(id)).map((id) => options.keyOf(id));
    if (orphans.length > 0) await store.delete(orphans);
    moved += kept.size;
    options.onProgress?.(moved);
  }
}

/** How many inputs still hold their bytes in Postgres, and how many are in the blob store. */
export async function countInputsByPlace(db: Database): Promise<{ inPostgres: number; inBlobStore: number }> {
  const { rows } = await sqlPool(db).query<{ in_postgres: number; in_blob_store: number }>(
    'SELECT count(*) FILTER (WHERE blob_key IS NULL)::int AS in_postgres, count(*) FILTER (WHERE blob_key IS NOT NULL)::int AS in_blob_store FROM job_inputs',
  );
  return { inPostgres: rows[0]?.in_postgres ?? 0, inBlobStore: rows[0]?.in_blob_store ?? 0 };
}
