// What admitting a job costs: the per-user in-flight count and the whole admit transaction
// (advisory lock, count, insert) in Postgres, and the global queue-length read in Redis, at
// realistic sizes: a user with 100 000 finished jobs and 0, 200 or 2000 in flight.
//   DATABASE_URL=… REDIS_URL=… pnpm bench admission [--rounds 200]
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { jobPriority, tiers } from '@inferq/accounts';
import { createDatabase, JobAdmission, JobQueries } from '@inferq/db';
import { createRedisConnection, InferenceQueue } from '@inferq/queue';
import { createTestUser, startTestServices, TestJobs } from '@inferq/testing';
import { formatMs, printTable, quantile, writeResults } from './lib/stats.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '200' } } });
const rounds = Math.min(2000, Number(values.rounds));

const services = await startTestServices();
const db = createDatabase({ url: services.databaseUrl, poolSize: 2 });
const redis = createRedisConnection({ url: services.redisUrl, role: 'producer' });
redis.on('error', () => {});
const queue = new InferenceQueue({
  connection: redis,
  name: `bench-admission-${randomUUID()}`,
  prefix: services.queuePrefix,
});
const admission = new JobAdmission(db);
const queries = new JobQueries(db);
const writer = new TestJobs(db);

async function time(fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 10; i++) await fn(); // warm-up: connections, plans, JIT
  const sample: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await fn();
    sample.push(performance.now() - started);
  }
  return sample;
}

/** Rows straight in SQL: `count` jobs of `userId` in `status`. */
async function insertJobs(userId: string, count: number, status: string): Promise<void> {
  await db.$executeRawUnsafe(
    `INSERT INTO jobs (id, user_id, status, model_name, input_format, input_width, input_height, input_bytes, input_sha256, created_at, updated_at)
     SELECT gen_random_uuid(), $1::uuid, $2::"JobStatus", 'nsfw', 'jpeg', 64, 64, 1000, 'x', now() - (n || ' seconds')::interval, now()
       FROM generate_series(1, $3::int) AS n`,
    userId,
    status,
    count,
  );
}

const image = { data: Buffer.alloc(2048, 1), format: 'jpeg', width: 64, height: 64, sha256: 'x' };
const rows: Array<Record<string, string | number>> = [];
const results: Record<string, { p50: number; p99: number }> = {};
function record(measure: string, sample: number[]) {
  results[measure] = { p50: quantile(sample, 0.5), p99: quantile(sample, 0.99) };
  rows.push({
    measure,
    p50: formatMs(quantile(sample, 0.5)),
    p90: formatMs(quantile(sample, 0.9)),
    p99: formatMs(quantile(sample, 0.99)),
  });
}

try {
  for (const inFlight of [0, 200, 2000]) {
    const user = await createTestUser(services.databaseUrl);
    await insertJobs(user.userId, 100_000, 'succeeded');
    await insertJobs(user.userId, inFlight, 'queued');
    await db.$executeRawUnsafe('VACUUM ANALYZE jobs');
    record(`in-flight count, ${inFlight} in flight`, await time(() => queries.countInFlight(user.userId)));
    const created: string[] = [];
    record(
      `admit (lock + count + insert), ${inFlight} in flight`,
      await time(async () => {
        const id = randomUUID();
        created.push(id);
        await admission.admit(
          { id, userId: user.userId, modelName: 'nsfw', input: image },
          { maxInFlight: 1_000_000, priorityFor: (count) => jobPriority(tiers.pro, count) },
        );
      }),
    );
    // Group commit: 32 admissions in one transaction; the figure is per job.
    const perJob = (sample: number[]) => sample.map((ms) => ms / 32);
    record(
      `admitMany, 32 jobs in one transaction, per job, ${inFlight} in flight`,
      perJob(
        await time(async () => {
          const requests = Array.from({ length: 32 }, () => {
            const id = randomUUID();
            created.push(id);
            return {
              job: { id, userId: user.userId, modelName: 'nsfw', input: image },
              limit: { maxInFlight: 1_000_000, priorityFor: (count: number) => jobPriority(tiers.pro, count) },
            };
          });
          await admission.admitMany(requests);
        }),
      ),
    );
    record(
      `plain insert, no quota (for comparison), ${inFlight} in flight`,
      await time(async () => {
        const id = randomUUID();
        created.push(id);
        await writer.create({ id, userId: user.userId, modelName: 'nsfw', input: image });
      }),
    );
    await db.job.deleteMany({ where: { id: { in: created } } });
  }

  const { count } = await db.job.count().then((total) => ({ count: total }));
  await queue.queueFor('nsfw').addBulk(
    Array.from({ length: 10_000 }, (_, i) => ({
      name: 'infer',
      data: { jobId: randomUUID(), model: 'nsfw' },
      opts: { priority: 1 + (i % 100) },
    })),
  );
  record('global queue length (Redis), 10 000 queued', await time(() => queue.inFlightCount()));
  record(
    'Redis INCR + DECR (a counter, for comparison)',
    await time(async () => {
      await redis.incr(`${services.queuePrefix}:bench-counter`);
      await redis.decr(`${services.queuePrefix}:bench-counter`);
    }),
  );

  console.log(
    `\n${rounds} rounds each; ${count} job rows in the table; load ${os.loadavg()[0]!.toFixed(2)} on ${os.availableParallelism()} cores\n`,
  );
  printTable(rows);
  const file = writeResults('admission', { rounds, results });
  console.log(`\nwrote ${file}`);
} finally {
  await queue.obliterate().catch(() => {});
  await queue.close();
  redis.disconnect();
  await db.$disconnect();
  await services.stop();
}
