import pg from 'pg';
import { isUuid } from '@inferq/core';
import { inFlightStatusesSql, jobRecordFromRow, jobWithResultColumns } from './jobRows.ts';
import type { AdmitResult, InFlightLimit, NewJob } from './jobAdmission.ts';

/** One job to admit and the quota its owner is held to. */
export interface AdmitRequest {
  job: NewJob;
  limit: InFlightLimit;
}

/** First key of the per-user advisory lock taken while admitting jobs (any fixed number). */
const admitLockSpace = 0x1f0b;
const dayMs = 24 * 3600 * 1000;
/** Columns of one job row in the VALUES list, in order, with their types. */
const valueColumns = [
  ['id', 'uuid'],
  ['user_id', 'uuid'],
  ['model_name', 'text'],
  ['requested_version', 'text'],
  ['routed_version', 'text'],
  ['input_format', 'text'],
  ['input_width', 'int'],
  ['input_height', 'int'],
  ['input_bytes', 'int'],
  ['input_sha256', 'text'],
  ['priority', 'int'],
  ['expires_at', 'timestamptz'],
  ['idempotency_key', 'text'],
  ['webhook_url', 'text'],
  ['input_file_name', 'text'],
  ['webhook_events', 'text[]'],
  ['start_by', 'timestamptz'],
  ['cancel_after_ms', 'int'],
  ['result_prefix', 'text'],
  ['metadata', 'jsonb'],
  ['data', 'bytea'],
  ['blob_key', 'text'],
] as const;
const jobColumns = valueColumns.filter(([name]) => name !== 'data' && name !== 'blob_key').map(([name]) => name);
/** What the INSERT takes from each VALUES column: the job's events filter defaults as the column does. */
const selected = jobColumns.map((name) =>
  name === 'webhook_events' ? "coalesce(webhook_events, ARRAY['completed'])" : name,
);

/** The INSERT for `n` jobs: one statement writes every job row and its input (bytes, or a blob key). */
function insertText(n: number): string {
  const rows: string[] = [];
  for (let row = 0; row < n; row++) {
    const base = 1 + row * valueColumns.length;
    rows.push(`(${valueColumns.map(([, type], column) => `$${base + column}::${type}`).join(', ')})`);
  }
  const now = `$${n * valueColumns.length + 1}::timestamptz`;
  return `
    WITH v (${valueColumns.map(([name]) => name).join(', ')}) AS (VALUES ${rows.join(', ')}),
    j AS (
      INSERT INTO jobs (${jobColumns.join(', ')}, created_at, updated_at)
      SELECT ${selected.join(', ')}, ${now}, ${now} FROM v
      RETURNING *
    ), input AS (
      INSERT INTO job_inputs (job_id, data, blob_key, created_at)
      SELECT v.id, v.data, v.blob_key, ${now} FROM v JOIN j ON j.id = v.id
    )
    SELECT ${jobWithResultColumns} FROM j LEFT JOIN job_results r ON false`;
}

function valuesOf(job: NewJob, priority: number | null): unknown[] {
  return [
    job.id,
    job.userId,
    job.modelName,
    job.requestedVersion ?? null,
    job.routedVersion ?? null,
    job.input.format,
    job.input.width,
    job.input.height,
    job.input.data.byteLength,
    job.input.sha256,
    priority,
    job.expiresAt ?? null,
    job.idempotencyKey ?? null,
    job.webhookUrl ?? null,
    job.input.fileName ?? null,
    job.webhookEvents ? [...job.webhookEvents] : null,
    job.startBy ?? null,
    job.cancelAfterMs ?? null,
    job.resultPrefix ?? null,
    // As JSON text: pg would send a JS object as JSON too, but an array as a Postgres array.
    job.metadata ? JSON.stringify(job.metadata) : null,
    // With a blob store the row keeps the reference only, never the bytes.
    job.input.blobKey ? null : job.input.data,
    job.input.blobKey ?? null,
  ];
}

/**
 * Admits many jobs, of one user or many, in one transaction of three round trips whatever their
 * number (group commit): first one message with BEGIN, the owners' advisory locks (taken in one
 * fixed order so two batches never deadlock), the idempotency keys already used and every
 * owner's queued + running count (and the last priority among their queued jobs) in one grouped
 * scan; then one INSERT of all the job rows and inputs; then COMMIT. Each job is then judged as
 * JobAdmission.admit judges one, in the order given: a user's k-th job of the batch counts the
 * k − 1 before it, so the quota holds within a batch and, through the locks, across batches and
 * API instances.
 *
 * Results come in the order of `requests`. Nothing is written unless the transaction commits.
 */
export async function admitMany(
  pool: pg.Pool,
  given: readonly AdmitRequest[],
  now = new Date(),
): Promise<AdmitResult[]> {
  if (given.length === 0) return [];
  // The user ids are written into the text of the first message: only UUIDs go there.
  const notUuid = given.find((request) => !isUuid(request.job.userId));
  if (notUuid) throw new Error(`user id ${JSON.stringify(notUuid.job.userId)} is not a UUID`);
  // In Postgres' own spelling (lower case), so that one user is one lock and one count, and the
  // ids match the rows the reads return.
  const requests = given.map((request) => ({
    ...request,
    job: { ...request.job, userId: request.job.userId.toLowerCase() },
  }));
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    try {
      const results = await admitIn(client, requests, now);
      await client.query('COMMIT');
      return results;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    }
  } finally {
    // A connection whose rollback failed is in an unknown state: the pool drops it.
    client.release(broken);
  }
}

/** A string as an SQL literal of the simple protocol, which takes no bind parameters. */
const literal = (value: string) => pg.escapeLiteral(value);

/**
 * BEGIN, the locks and the reads the judging needs, as one simple-protocol message: one round
 * trip instead of four. Its statements run one after the other in the transaction, and in READ
 * COMMITTED each takes its own snapshot when it starts, so the idempotency and count reads see
 * every admission committed before the last lock was granted, as separate round trips would.
 * (A single statement would not do: its snapshot would be taken before it waited for the locks.)
 */
function lockAndReadText(users: readonly string[], keyed: readonly AdmitRequest[]): string {
  const userArray = `ARRAY[${users.map(literal).join(', ')}]`;
  const statements = [
    'BEGIN',
    // Volatile functions in the select list run after ORDER BY: the locks are taken in hash order.
    `SELECT pg_advisory_xact_lock(${admitLockSpace}, h) FROM (SELECT DISTINCT hashtext(u) AS h FROM unnest(${userArray}::text[]) u) s ORDER BY h`,
    // The count, and the last priority among the owner's queued jobs (see admitIn): both from the
    // (user_id, status, priority) index alone.
    `SELECT user_id, count(*)::int AS n, max(priority) FILTER (WHERE status = 'queued') AS queued_priority
       FROM jobs WHERE user_id = ANY(${userArray}::uuid[]) AND status IN (${inFlightStatusesSql}) GROUP BY user_id`,
  ];
  if (keyed.length > 0) {
    const pairs = keyed.map(({ job }) => `(${literal(job.userId)}::uuid, ${literal(job.idempotencyKey!)})`);
    statements.push(`SELECT ${jobWithResultColumns} FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id
              WHERE (j.user_id, j.idempotency_key) IN (VALUES ${pairs.join(', ')})`);
  }
  return statements.join(';\n');
}

async function admitIn(client: pg.PoolClient, requests: readonly AdmitRequest[], now: Date): Promise<AdmitResult[]> {
  const users = [...new Set(requests.map((request) => request.job.userId))];
  const keyed = requests.filter((request) => request.job.idempotencyKey);
  // One result per statement: BEGIN, the locks, the counts, then the idempotency read if any.
  const read = (await client.query(lockAndReadText(users, keyed))) as unknown as pg.QueryResult[];
  const counted = read[2] as pg.QueryResult<{ user_id: string; n: number; queued_priority: number | null }>;
  const earlier = new Map<string, ReturnType<typeof jobRecordFromRow>>();
  for (const row of read[3]?.rows ?? []) {
    const job = jobRecordFromRow(row as Record<string, unknown>);
    earlier.set(`${job.userId}\u0000${job.idempotencyKey}`, job);
  }

  const inFlight = new Map(users.map((user) => [user, 0]));
  // A user's jobs keep their order: BullMQ serves lower priorities first, and the count falls as
  // the owner's earlier jobs finish, so a job admitted with fewer in flight would otherwise go
  // ahead of that owner's jobs still queued with a higher one. The priority is never below the
  // last of those (it only ever moves the owner's own job later, never another user's).
  const queuedPriority = new Map<string, number>();
  for (const row of counted.rows) {
    inFlight.set(row.user_id, row.n);
    if (row.queued_priority !== null) queuedPriority.set(row.user_id, row.queued_priority);
  }

  const results: Array<AdmitResult | undefined> = Array.from({ length: requests.length });
  /** Index in `requests` of the job created in this batch for a user's key. */
  const createdByKey = new Map<string, number>();
  const expiredKeys: string[] = [];
  const toInsert: Array<{ index: number; values: unknown[]; inFlight: number }> = [];
  for (const [index, { job, limit }] of requests.entries()) {
    const windowStart = now.getTime() - (limit.idempotencyWindowMs ?? dayMs);
    const key = job.idempotencyKey ? `${job.userId}\u0000${job.idempotencyKey}` : undefined;
    if (key !== undefined) {
      const existing = earlier.get(key);
      if (existing && existing.createdAt.getTime() >= windowStart) {
        results[index] = { outcome: 'duplicate', job: existing };
        continue;
      }
      if (createdByKey.has(key)) continue; // answered with the job made for the first of them, below
      // An expired key is free again: the old job keeps its id but loses the key.
      if (existing) expiredKeys.push(existing.id);
    }
    const count = inFlight.get(job.userId)!;
    if (count >= limit.maxInFlight) {
      results[index] = { outcome: 'over-quota', inFlight: count, maxInFlight: limit.maxInFlight };
      continue;
    }
    inFlight.set(job.userId, count + 1);
    if (key !== undefined) createdByKey.set(key, index);
    let priority = job.priority;
    if (limit.priorityFor) {
      priority = Math.max(limit.priorityFor(count), queuedPriority.get(job.userId) ?? 0);
      queuedPriority.set(job.userId, priority);
    }
    toInsert.push({ index, values: valuesOf(job, priority ?? null), inFlight: count });
  }

  if (expiredKeys.length > 0) {
    await client.query('UPDATE jobs SET idempotency_key = NULL, updated_at = $2 WHERE id = ANY($1::uuid[])', [
      expiredKeys,
      new Date(),
    ]);
  }
  if (toInsert.length > 0) {
    const createdAt = new Date();
    const { rows } = await client.query({
      // One prepared statement per batch size a connection has seen.
      name: `inferq-admit-many-insert-${toInsert.length}`,
      text: insertText(toInsert.length),
      values: [...toInsert.flatMap((row) => row.values), createdAt],
    });
    const byId = new Map(
      rows.map((row) => [(row as { id: string }).id, jobRecordFromRow(row as Record<string, unknown>)]),
    );
    for (const row of toInsert) {
      const job = byId.get(requests[row.index]!.job.id);
      if (!job) throw new Error(`job ${requests[row.index]!.job.id} was not written`);
      results[row.index] = { outcome: 'created', job, inFlight: row.inFlight };
    }
  }
  // A repeated key within the batch answers the job the first of them made.
  for (const [index, { job }] of requests.entries()) {
    if (results[index] !== undefined) continue;
    const first = results[createdByKey.get(`${job.userId}\u0000${job.idempotencyKey}`)!];
    results[index] = first && first.outcome === 'created' ? { outcome: 'duplicate', job: first.job } : first;
  }
  return results as AdmitResult[];
}
