// CPU cost in this process of one database read on the hot path, by how it is written: a Prisma
// model query (compiled by Prisma's query compiler), the same read as a raw Prisma query, and the
// pg driver alone. Run one after the other against one row, sequentially (latency = round trip).
//   pnpm bench db [--ops 2000]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { AccountStore, tierNames } from '@inferq/accounts';
import { createDatabase } from '@inferq/db';
import { startTestServices, TestJobs } from '@inferq/testing';
import { machineLoad } from './lib/procStat.ts';
import { printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({ options: { ops: { type: 'string', default: '2000' } } });
const ops = Number(values.ops);
const services = await startTestServices();
const db = createDatabase({ url: services.databaseUrl, poolSize: 2 });
const client = new pg.Client({ connectionString: services.databaseUrl });
await client.connect();
const before = machineLoad();
const rows: Array<Record<string, string>> = [];
try {
  const jobs = new TestJobs(db);
  const id = randomUUID();
  const user = await new AccountStore(db, { tiers: tierNames }).createUser({
    email: `db-${id}@bench.inferq`,
    tier: 'pro',
    role: 'user',
  });
  await jobs.create({
    id,
    userId: user.id,
    modelName: 'tiny',
    input: { data: Buffer.alloc(100), format: 'jpeg', width: 32, height: 32, sha256: '0'.repeat(64) },
  });
  const variants: Array<[string, () => Promise<unknown>]> = [
    ['Prisma findUnique, include result', () => db.job.findUnique({ where: { id }, include: { result: true } })],
    ['Prisma findUnique', () => db.job.findUnique({ where: { id } })],
    [
      'Prisma $queryRaw, LEFT JOIN result',
      () =>
        db.$queryRaw`SELECT j.*, r.output FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id WHERE j.id = ${id}::uuid`,
    ],
    [
      'pg, LEFT JOIN result',
      () =>
        client.query(
          'SELECT j.*, r.output FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id WHERE j.id = $1::uuid',
          [id],
        ),
    ],
  ];
  for (const [name, run] of variants) {
    for (let i = 0; i < 200; i++) await run();
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < ops; i++) await run();
    const wall = performance.now() - started;
    const used = process.cpuUsage(cpu);
    rows.push({
      query: name,
      'CPU µs/op (this process)': ((used.user + used.system) / ops).toFixed(0),
      'wall µs/op': ((wall * 1000) / ops).toFixed(0),
    });
  }
} finally {
  await client.end();
  await db.$disconnect();
  await services.stop();
}
printTable(rows);
console.log(`load average: ${before.load1} before, ${machineLoad().load1} after`);
console.log(`wrote ${writeResults('db', { ops, rows, load: before })}`);
