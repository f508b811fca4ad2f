// Model rollout, with an API and a worker: two versions of the shipped mnist (the same files
// published twice, 1.0.0 live and 1.1.0).
//   1. split: 70/30 over --jobs jobs (closed loop, --clients): the share each version ran (the
//      version the job row records) against the weights;
//   2. shadow: the primary's end-to-end latency (submit to result, ?wait) at a fixed --rate,
//      without a shadow, with 1.1.0 shadowing every job, and without again, in one run: p50/p99
//      of each phase and the ratio of the shadowed p99 to the mean of the two around it.
//   pnpm bench rollout [--jobs 1000] [--clients 16] [--rate 40] [--seconds 15] [--model mnist]
import { randomUUID } from 'node:crypto';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ModelRegistry, onnxFileName, readOnnxFile, readVersionFiles, type PublishManifest } from '@inferq/models';
import { repoRoot } from '@inferq/testing';
import { benchImage } from './lib/benchImage.ts';
import { HttpClient, closedLoop, openLoop, waitForJob } from './lib/loadClient.ts';
import { startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { formatMs, printTable, summarize, writeResults } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    clients: { type: 'string', default: '16' },
    rate: { type: 'string', default: '40' },
    seconds: { type: 'string', default: '15' },
    model: { type: 'string', default: 'mnist' },
    'models-dir': { type: 'string', default: path.join(repoRoot, 'models') },
  },
});
const name = values.model;
const root = await mkdtemp(path.join(tmpdir(), 'inferq-bench-rollout-'));
const registry = new ModelRegistry({ root });
const shipped = await new ModelRegistry({ root: values['models-dir'] }).resolve(name);
const files = await readVersionFiles(shipped.location as string, shipped.manifest.format);
const hasOnnx = await access(path.join(shipped.location as string, onnxFileName)).then(
  () => true,
  () => false,
);
if (hasOnnx && shipped.manifest.format !== 'onnx') files.push(await readOnnxFile(shipped.location as string));
const { name: _n, version: _v, sha256: _s, createdAt: _c, onnx: _o, ...manifest } = shipped.manifest;
await registry.publish({ name, version: '1.0.0', files, manifest: manifest as PublishManifest, setLive: true });
await registry.publish({ name, version: '1.1.0', files, manifest: manifest as PublishManifest });

const services = await startBenchServices();
const before = machineLoad();
console.log(`model rollout: ${name} 1.0.0 and 1.1.0 (the same files), one API and one worker; ${before.uptime}`);
const platform = await startPlatform({
  services,
  modelsDir: root,
  defaultModel: name,
  workers: 1,
  queueName: `bench-${randomUUID()}`,
  worker: { MODEL_WATCH_INTERVAL_MS: '200', HEARTBEAT_INTERVAL_MS: '200' },
});
const upload = (await benchImage('64x64')).upload;
const [admin] = await benchUsers(services, 1, 'pro', 'admin');
const clients = Number(values.clients);
const users = await benchUsers(services, clients);
const http = new HttpClient(platform.api.url, { connections: clients * 2 + 4 });
const adminHeaders = { ...admin!.headers, 'content-type': 'application/json' };

async function setTraffic(body: unknown): Promise<void> {
  const response = await fetch(`${platform.api.url}/v1/admin/models/${name}/traffic`, {
    method: 'PUT',
    headers: adminHeaders,
    body: JSON.stringify(body),
  });
  if (response.status !== 200) throw new Error(`PUT traffic answered ${response.status}: ${await response.text()}`);
  // Every version of the split warm on the worker, and the API's view of it renewed (within 2 s).
  for (;;) {
    const view = (await (
      await fetch(`${platform.api.url}/v1/admin/models/${name}/traffic`, { headers: admin!.headers })
    ).json()) as { traffic: { split: Array<{ workersReady: number }>; shadow: { workersReady: number } | null } };
    if (view.traffic.split.every((entry) => entry.workersReady > 0) && (view.traffic.shadow?.workersReady ?? 1) > 0)
      break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await new Promise((resolve) => setTimeout(resolve, 2100));
}

async function submitAndWait(client: number): Promise<{ id: string; ms: number; ok: boolean }> {
  const headers = users[client % users.length]!.headers;
  const started = performance.now();
  const answer = await http.request<{ id: string }>('POST', '/v1/jobs', { body: upload, headers });
  if (answer.status !== 202)
    throw new Error(`submit answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
  const job = await waitForJob(http, answer.body.id, { headers });
  return { id: answer.body.id, ms: performance.now() - started, ok: job.status === 'succeeded' };
}

const db = new pg.Client({ connectionString: services.databaseUrl });
await db.connect();
try {
  // 1. The split.
  await setTraffic({
    split: [
      { version: '1.0.0', weight: 70 },
      { version: '1.1.0', weight: 30 },
    ],
  });
  const ids: string[] = [];
  const jobs = Number(values.jobs);
  const wallMs = await closedLoop({
    clients,
    jobs,
    task: async (client) => void ids.push((await submitAndWait(client)).id),
  });
  const { rows: ran } = await db.query<{ version: string; jobs: string }>(
    'SELECT routed_version AS version, count(*) AS jobs FROM jobs WHERE id = ANY($1::uuid[]) AND model_version = routed_version GROUP BY 1 ORDER BY 1',
    [ids],
  );
  const total = ran.reduce((sum, row) => sum + Number(row.jobs), 0);
  console.log(
    `split 70/30 over ${ids.length} jobs in ${(wallMs / 1000).toFixed(1)} s: ${ran.map((row) => `${row.version} ${row.jobs} (${((Number(row.jobs) / total) * 100).toFixed(1)}%)`).join(', ')}`,
  );
  printTable(
    ran.map((row) => ({
      version: row.version,
      weight: row.version === '1.0.0' ? '70%' : '30%',
      'jobs run': Number(row.jobs),
      share: `${((Number(row.jobs) / total) * 100).toFixed(1)}%`,
    })),
  );

  // 2. The primary's latency without, with and again without a shadow, at a fixed rate.
  const durationMs = Number(values.seconds) * 1000;
  const rate = Number(values.rate);
  const phase = async (label: string, body: unknown) => {
    await setTraffic(body);
    const latencies: number[] = [];
    let failed = 0;
    const shadowIds: string[] = [];
    await openLoop({
      rate,
      durationMs,
      fire: async (index) => {
        const result = await submitAndWait(index);
        if (result.ok) latencies.push(result.ms);
        else failed++;
        shadowIds.push(result.id);
      },
    });
    const { rows } = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM job_shadow_results WHERE job_id = ANY($1::uuid[])',
      [shadowIds],
    );
    return { label, ...summarize(latencies), failed, shadowRuns: Number(rows[0]?.n ?? 0) };
  };
  const primaryOnly = { split: [{ version: '1.0.0', weight: 1 }] };
  const phases = [
    await phase('no shadow', primaryOnly),
    await phase('shadow 1.1.0', { ...primaryOnly, shadow: '1.1.0' }),
    await phase('no shadow, again', primaryOnly),
  ];
  printTable(
    phases.map((p) => ({
      phase: p.label,
      jobs: p.n,
      failed: p.failed,
      'shadow runs': p.shadowRuns,
      p50: formatMs(p.p50),
      p99: formatMs(p.p99),
      max: formatMs(p.max),
    })),
  );
  const around = (phases[0]!.p99 + phases[2]!.p99) / 2;
  console.log(
    `primary p99 with the shadow / without (mean of the two phases around it): ${(phases[1]!.p99 / around).toFixed(2)}×; p50 ${(phases[1]!.p50 / ((phases[0]!.p50 + phases[2]!.p50) / 2)).toFixed(2)}×`,
  );
  const after = machineLoad();
  console.log(`load average: ${before.load1} before, ${after.load1} after (${after.cores} cores, shared)`);
  console.log(
    `wrote ${writeResults('rollout', { model: name, split: { jobs: ids.length, wallMs, ran }, shadow: { rate, durationMs, phases }, load: { before, after } })}`,
  );
} finally {
  await db.end();
  await http.close();
  await platform.stop();
  await services.stop();
  await rm(root, { recursive: true, force: true });
}
