// The jobs listing's filters at scale: a database of its own filled with generated jobs
// (1,000,000 by default: 2,000 users, 4 models with 3 versions each, a month of submits, a tenth
// failed, metadata on most), then each filter kind read through JobQueries.list, as
// GET /v1/jobs and GET /v1/admin/jobs read it (a page of 20, newest first), with values drawn
// at random per read. Prints p50/p95 per kind and the plan's top node, to show which index answered.
//   pnpm bench search [--rows 1000000] [--reads 40]
import { randomInt, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDatabase, jobFilterSql, JobQueries, type JobFilter } from '@inferq/db';
import { startTestServices } from '@inferq/testing';
import { machineLoad } from './lib/procStat.ts';
import { printTable, quantile, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, reads: { type: 'string', default: '40' } },
});
const rows = Number(values.rows);
const reads = Number(values.reads);
const users = 2000;
const customers = 20_000;
const models = ['nsfw', 'mnist', 'imagenet', 'faces'];
const versions = ['1.0.0', '2.0.0', '4.4.0'];
const days = 30;
const now = Date.now();

const services = await startTestServices();
const db = createDatabase({ url: services.databaseUrl, poolSize: 2 });
const sql = new pg.Client({ connectionString: services.databaseUrl });
await sql.connect();
const before = machineLoad();
const results: Array<Record<string, string>> = [];
try {
  console.log(`generating ${rows.toLocaleString('en')} jobs…`);
  const fillStarted = performance.now();
  await sql.query(`INSERT INTO users (id, email, webhook_secret, updated_at)
    SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(u), 12, '0'))::uuid, 'user' || u || '@bench.inferq', 'x', now() FROM generate_series(1, ${users}) u`);
  await sql.query("SET maintenance_work_mem = '256MB'");
  // In slices, so one statement's memory stays small; the indexes of the migrations are kept up to date as rows go in.
  const slice = 100_000;
  for (let start = 0; start < rows; start += slice) {
    const end = Math.min(rows, start + slice);
    await sql.query(
      `INSERT INTO jobs (id, user_id, status, model_name, model_version, requested_version, input_format, input_width, input_height, input_bytes, input_sha256,
                         input_file_name, metadata, error_code, created_at, updated_at)
       SELECT gen_random_uuid(),
              ('00000000-0000-4000-8000-' || lpad(to_hex(1 + (n::bigint * 7919) % ${users}), 12, '0'))::uuid,
              (CASE WHEN n % 10 = 0 THEN 'failed' WHEN n % 97 = 0 THEN 'canceled' WHEN n > $1 - 2000 THEN 'queued' ELSE 'succeeded' END)::"JobStatus",
              ($3::text[])[1 + n % 4], ($4::text[])[1 + (n / 4) % 3], NULL, 'jpeg', 640, 480, 50000, md5(n::text),
              CASE WHEN n % 3 = 0 THEN NULL ELSE 'photo-' || n || '.jpg' END,
              CASE WHEN n % 5 = 0 THEN NULL ELSE jsonb_build_object('customer', 'cus_' || (n::bigint * 31) % ${customers}, 'order', 'ord_' || n, 'region', ($5::text[])[1 + n % 3]) END,
              CASE WHEN n % 10 = 0 THEN ($6::text[])[1 + (n / 10) % 3] END,
              to_timestamp($2::double precision / 1000 - ($1 - n) * (${days} * 86400.0 / $1)),
              now()
         FROM generate_series(${start + 1}, ${end}) n`,
      [rows, now, models, versions, ['eu', 'us', 'ap'], ['INFERENCE_FAILED', 'TIMEOUT', 'PREPROCESSING_FAILED']],
    );
    process.stdout.write(`  ${end.toLocaleString('en')}\r`);
  }
  await sql.query('VACUUM ANALYZE jobs, job_search');
  console.log(`generated in ${((performance.now() - fillStarted) / 1000).toFixed(0)} s`);

  const queries = new JobQueries(db);
  const user = () => `00000000-0000-4000-8000-${(1 + randomInt(users)).toString(16).padStart(12, '0')}`;
  const pick = <T>(list: readonly T[]) => list[randomInt(list.length)]!;
  const day = () => {
    const start = now - (1 + randomInt(days - 1)) * 86_400_000;
    return { createdAfter: new Date(start), createdBefore: new Date(start + 86_400_000) };
  };
  const someId = async () =>
    (await sql.query<{ id: string }>('SELECT id::text FROM jobs OFFSET $1 LIMIT 1', [randomInt(rows)])).rows[0]!.id;
  const kinds: Array<[string, () => Promise<JobFilter>]> = [
    ['none (newest page)', async () => ({})],
    ['user', async () => ({ userId: user() })],
    ['status=failed', async () => ({ statuses: ['failed'] })],
    ['status=queued (rare)', async () => ({ statuses: ['queued'] })],
    ['model', async () => ({ models: [pick(models)] })],
    ['model + version', async () => ({ models: [pick(models)], versions: [pick(versions)] })],
    ['errorCode', async () => ({ errorCodes: ['TIMEOUT'] })],
    ['created in one day', async () => day()],
    ['metadata (1 key)', async () => ({ metadata: { customer: `cus_${randomInt(customers)}` } })],
    ['metadata (1 key, unique)', async () => ({ metadata: { order: `ord_${1 + randomInt(rows)}` } })],
    ['user + metadata', async () => ({ userId: user(), metadata: { region: pick(['eu', 'us', 'ap']) } })],
    [
      'user + status + model + day',
      async () => ({ userId: user(), statuses: ['failed'], models: [pick(models)], ...day() }),
    ],
    ['q: metadata value', async () => ({ text: `cus_${randomInt(customers)}` })],
    ['q: file name', async () => ({ text: `photo-${1 + randomInt(rows)}.jpg` })],
    ['q: id prefix (8)', async () => ({ text: (await someId()).slice(0, 8) })],
    ['q + status=failed', async () => ({ text: `cus_${randomInt(customers)}`, statuses: ['failed'] })],
  ];
  for (const [kind, make] of kinds) {
    const times: number[] = [];
    let found = 0;
    for (let i = 0; i < reads + 3; i++) {
      const filter = await make();
      const started = performance.now();
      const page = await queries.list({ ...filter, limit: 21 });
      if (i >= 3) times.push(performance.now() - started);
      found += page.length;
    }
    const example = await make();
    const params: unknown[] = [];
    const where = jobFilterSql(example, params);
    const plan = await sql.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT id FROM jobs j WHERE ${where} ORDER BY j.created_at DESC, j.id DESC LIMIT 21`,
      params,
    );
    const indexes = [
      ...new Set(
        plan.rows.flatMap((row) =>
          [
            ...row['QUERY PLAN'].matchAll(/Index (?:Only )?Scan(?: Backward)? using (\w+)|Bitmap Index Scan on (\w+)/g),
          ].map((m) => (m[1] ?? m[2])!),
        ),
      ),
    ];
    results.push({
      filter: kind,
      'p50 ms': quantile(times, 0.5).toFixed(1),
      'p95 ms': quantile(times, 0.95).toFixed(1),
      'rows/page': (found / (reads + 3)).toFixed(1),
      'indexes used':
        indexes.join(', ') || (plan.rows.some((row) => row['QUERY PLAN'].includes('Seq Scan')) ? 'SEQ SCAN' : '-'),
    });
    console.log(`  ${kind}: p95 ${results.at(-1)!['p95 ms']} ms`);
  }
} finally {
  await sql.end();
  await db.$disconnect();
  await services.stop();
}
printTable(results);
console.log(
  `${rows.toLocaleString('en')} jobs, ${reads} reads per filter (values drawn at random), a page of 20 (21 read) through JobQueries.list`,
);
console.log(`load average: ${before.load1} before, ${machineLoad().load1} after (the machine is shared)`);
console.log(`wrote ${writeResults('search', { rows, reads, results, load: before, id: randomUUID() })}`);
