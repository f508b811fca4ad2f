import { Prisma } from '@prisma/client';
import type pg from 'pg';
import { inFlightJobStatuses } from '@inferq/core';

/** `'queued', 'running'`: the in-flight statuses as an SQL list, for `status IN (…)` in raw statements. */
export const inFlightStatusesSql = inFlightJobStatuses.map((status) => `'${status}'`).join(', ');

/** What a job read returns: the row as Prisma types it, with its result (null until there is one). */
export const jobWithResult = { result: true } as const satisfies Prisma.JobInclude;
export type JobRecord = Prisma.JobGetPayload<{ include: typeof jobWithResult }>;

/** A model's fields, from the Prisma schema. */
function fieldsOf(model: string) {
  const found = Prisma.dmmf.datamodel.models.find((m) => m.name === model);
  if (!found) throw new Error(`model ${model} is not in the Prisma schema`);
  return found.fields;
}

/**
 * `alias."column" AS "prefix + field"` for every scalar field of a model, from the Prisma schema:
 * a raw statement then reads exactly the fields Prisma would, named as Prisma names them, and
 * never `*` (a column added by a later migration would change a prepared statement's result).
 */
function selectList(model: string, alias: string, prefix = ''): string {
  return fieldsOf(model)
    .filter((field) => field.kind === 'scalar' || field.kind === 'enum')
    .map((field) => `${alias}."${field.dbName ?? field.name}" AS "${prefix}${field.name}"`)
    .join(', ');
}

const resultPrefix = 'result.';

/** Columns of a job (`j`) and its result (`r`, LEFT JOINed), for jobRecordFromRow. */
export const jobWithResultColumns = `${selectList('Job', 'j')}, ${selectList('JobResult', 'r', resultPrefix)}`;

/** The same columns read from other aliases (a statement's own CTEs). */
export function jobWithResultColumnsOf(job: string, result: string): string {
  return `${selectList('Job', job)}, ${selectList('JobResult', result, resultPrefix)}`;
}

/** Names of a model's DateTime fields, from the Prisma schema: what JSON turns into strings. */
function dateFields(model: string): string[] {
  return fieldsOf(model)
    .filter((field) => field.kind === 'scalar' && field.type === 'DateTime')
    .map((field) => field.name);
}

const jobDateFields = dateFields('Job');
const resultDateFields = dateFields('JobResult');

/**
 * A JobRecord read back from its JSON (`JSON.stringify(record)`): the same record, its DateTime
 * fields Dates again. Null when `value` is not a job record's JSON (no id, a date that does not
 * parse): the caller reads the row instead.
 */
export function jobRecordFromJson(value: unknown): JobRecord | null {
  if (typeof value !== 'object' || value === null || typeof (value as { id?: unknown }).id !== 'string') return null;
  const record: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const revive = (target: Record<string, unknown>, fields: readonly string[]): boolean => {
    for (const field of fields) {
      const raw = target[field];
      if (raw === null || raw === undefined) continue;
      if (typeof raw !== 'string') return false;
      const date = new Date(raw);
      if (Number.isNaN(date.getTime())) return false;
      target[field] = date;
    }
    return true;
  };
  if (!revive(record, jobDateFields)) return null;
  if (record.result !== null && record.result !== undefined) {
    if (typeof record.result !== 'object') return null;
    const result = { ...(record.result as Record<string, unknown>) };
    if (!revive(result, resultDateFields)) return null;
    record.result = result;
  } else record.result = null;
  return record as JobRecord;
}

/**
 * A `jobWithResultColumns` row as the JobRecord Prisma returns for `include: { result: true }`.
 * The pg driver already parses timestamptz into Dates and jsonb into values.
 */
export function jobRecordFromRow(row: Record<string, unknown>): JobRecord {
  const record: Record<string, unknown> = {};
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (name.startsWith(resultPrefix)) result[name.slice(resultPrefix.length)] = value;
    else record[name] = value;
  }
  record.result = result.jobId === null || result.jobId === undefined ? null : result;
  return record as JobRecord;
}

/** One job with its result, or null when the row is gone. */
export async function selectJob(sql: pg.Pool, id: string): Promise<JobRecord | null> {
  const { rows } = await sql.query({
    name: 'inferq-job-get',
    text: `SELECT ${jobWithResultColumns} FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id WHERE j.id = $1::uuid`,
    values: [id],
  });
  return rows[0] ? jobRecordFromRow(rows[0] as Record<string, unknown>) : null;
}

/** Jobs with their results in the order of `ids`, null where a row is gone: one statement for all. */
export async function selectJobs(sql: pg.Pool, ids: readonly string[]): Promise<Array<JobRecord | null>> {
  if (ids.length === 1) return [await selectJob(sql, ids[0]!)];
  const { rows } = await sql.query({
    name: 'inferq-job-get-many',
    text: `SELECT ${jobWithResultColumns} FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id WHERE j.id = ANY($1::uuid[])`,
    values: [ids],
  });
  const byId = new Map<string, JobRecord>();
  for (const row of rows) {
    const job = jobRecordFromRow(row as Record<string, unknown>);
    byId.set(job.id, job);
  }
  return ids.map((id) => byId.get(id) ?? null);
}
