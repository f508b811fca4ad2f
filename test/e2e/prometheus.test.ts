import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { drawingImage } from '@inferq/images/testing';
import { repoRoot, type PlatformProcess, type TestUser } from '@inferq/testing';
import { createTestUser, platformEnv, startApiProcess, startWorkerProcess, stopAll } from './platform.ts';

/**
 * A real Prometheus (Debian's `prometheus`, 2.42) scraping a real API and worker under load, with
 * the shipped alert rules (their `for` shortened to seconds, thresholds as shipped): the KEDA
 * query of deploy/kubernetes answers the queue depth the API reports, an alert fires when the only
 * worker is killed, and every query of the Grafana dashboard returns data.
 */
const monitoring = path.join(repoRoot, 'deploy/kubernetes/monitoring');
const env = platformEnv({ queuePrefix: `${inject('queuePrefix')}-prom-${randomUUID().slice(0, 8)}` });
let api: PlatformProcess | undefined;
let worker: PlatformProcess | undefined;
let prometheus: ChildProcess | undefined;
let promUrl = '';
let baseUrl = '';
let dir = '';
let admin: TestUser;
let user: TestUser;
let image: Buffer;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const response = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    value = await read();
  }
  return value;
}

async function submit(who: TestUser, model: string, bytes = image): Promise<number> {
  const form = new FormData();
  form.set('model', model);
  form.set('image', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), 'a.jpg');
  const response = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', headers: who.headers, body: form });
  await response.arrayBuffer();
  return response.status;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'inferq-prometheus-'));
  image = await sharp(await drawingImage(64, 64))
    .jpeg()
    .toBuffer();
  const extra = {
    TIER_OVERRIDES: JSON.stringify({ free: { submitsPerWindow: 1, submitBurst: 0, rateWindowSeconds: 3600 } }),
  };
  const [apiStarted, workerStarted] = await Promise.all([
    startApiProcess({ ...env, extra }),
    // nsfw only: mnist jobs stay queued, a depth that holds still for the comparison.
    startWorkerProcess({
      ...env,
      workerId: `prom-${randomUUID().slice(0, 8)}`,
      extra: { WORKER_MODELS: 'nsfw', HEARTBEAT_TTL_MS: '2000', HEARTBEAT_INTERVAL_MS: '500' },
    }),
  ]);
  api = apiStarted.process;
  worker = workerStarted.process;
  baseUrl = apiStarted.baseUrl;
  admin = await createTestUser(env.databaseUrl, { role: 'admin', tier: 'pro' });
  user = await createTestUser(env.databaseUrl, { tier: 'pro' });

  // The shipped rules with every `for` shortened, so an alert fires in seconds.
  const rules = parse(await readFile(path.join(monitoring, 'alert-rules.yaml'), 'utf8')) as {
    groups: Array<{ rules: Array<{ for?: string }> }>;
  };
  for (const rule of rules.groups.flatMap((group) => group.rules)) if (rule.for) rule.for = '3s';
  await writeFile(path.join(dir, 'rules.yaml'), stringify(rules));
  const target = (url: string) => new URL(url).host;
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: ['rules.yaml'],
    scrape_configs: [
      {
        job_name: 'inferq',
        static_configs: [
          { targets: [target(baseUrl)], labels: { component: 'api', pod: 'api-0' } },
          {
            targets: [target(workerStarted.healthUrl)],
            labels: { component: 'worker', pool: 'nsfw', pod: 'worker-0' },
          },
        ],
      },
    ],
  };
  await writeFile(path.join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  await until(
    () =>
      fetch(`${promUrl}/-/ready`).then(
        (r) => r.ok,
        () => false,
      ),
    Boolean,
    30_000,
  );
}, 180_000);

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await stopAll([api, worker]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a real Prometheus against the running platform', () => {
  it('runs the load the dashboard draws, and the KEDA query reads the queue depth the API reports', async () => {
    // Load: nsfw jobs the worker runs, mnist jobs that wait, a refused upload, a rate-limited user.
    const limited = await createTestUser(env.databaseUrl, { tier: 'free' });
    const statuses = await Promise.all([
      ...Array.from({ length: 40 }, () => submit(user, 'nsfw')),
      ...Array.from({ length: 12 }, () => submit(user, 'mnist')),
      submit(user, 'nsfw', Buffer.from('not an image')),
      submit(limited, 'nsfw'),
      submit(limited, 'nsfw'),
    ]);
    expect(statuses.filter((status) => status === 202)).toHaveLength(53);
    expect(statuses).toContain(400);
    expect(statuses).toContain(429);

    const scaled = parse(
      await readFile(path.join(repoRoot, 'deploy/kubernetes/worker-pool/scaledObject.yaml'), 'utf8'),
    ) as { spec: { triggers: Array<{ metadata: { query: string } }> } };
    // The pool's query as the mnist pool's kustomization narrows it: its model only.
    const keda = scaled.spec.triggers[0]!.metadata.query.replace('model=~".+"', 'model=~"mnist"');
    expect(keda).toContain('model=~"mnist"');
    const overview = async () => {
      const response = await fetch(`${baseUrl}/v1/admin/overview`, { headers: admin.headers });
      const body = (await response.json()) as { models: Array<{ model: string; counts: Record<string, number> }> };
      const counts = body.models.find((entry) => entry.model === 'mnist')?.counts ?? {};
      return (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.active ?? 0);
    };
    expect(await overview()).toBe(12);
    const depth = await until(
      () => query(keda),
      (result) => result[0]?.value[1] === '12',
      30_000,
    );
    expect(depth[0]?.value[1]).toBe('12');
  }, 120_000);

  // Series that exist only once a job has failed, an attempt was retried, or the reconciler repaired
  // something (it is off in tests: they share one database): this load causes none of them, so
  // their queries are only checked to be valid PromQL.
  const needsAnIncident = [
    'inferq_jobs_finished_total{model=~".+", status="failed"}',
    'inferq_job_retries_total',
    'inferq_reconciler_actions_total',
  ];

  it('answers every panel query of the Grafana dashboard with data', async () => {
    const dashboard = JSON.parse(await readFile(path.join(monitoring, 'grafana-dashboard.json'), 'utf8')) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    const queries = dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        panel: panel.title,
        expr: target.expr.replaceAll('$model', '.+').replaceAll('$__rate_interval', '1m'),
      })),
    );
    expect(queries.length).toBeGreaterThan(15);
    const incidents = queries.filter((entry) => needsAnIncident.some((name) => entry.expr.includes(name)));
    expect(incidents).toHaveLength(3);
    for (const entry of incidents) await query(entry.expr);
    queries.splice(0, queries.length, ...queries.filter((entry) => !incidents.includes(entry)));
    // Rates need two scrapes of a counter that moved: wait for the last series to show up.
    const empty = await until(
      async () =>
        (
          await Promise.all(queries.map(async (entry) => ((await query(entry.expr)).length === 0 ? entry : null)))
        ).filter((entry) => entry !== null),
      (missing) => missing.length === 0,
      60_000,
    );
    expect(empty.map((entry) => `${entry.panel}: ${entry.expr}`)).toEqual([]);
  }, 90_000);

  it('fires InferQNoWorkerForModel when the only worker is killed while jobs wait', async () => {
    expect(await query('ALERTS{alertname="InferQNoWorkerForModel", model="nsfw"}')).toEqual([]);
    worker!.kill('SIGKILL');
    for (let i = 0; i < 5; i++) expect(await submit(user, 'nsfw')).toBe(202);
    const firing = await until(
      () => query('ALERTS{alertname="InferQNoWorkerForModel", model="nsfw", alertstate="firing"}'),
      (result) => result.length > 0,
      60_000,
    );
    expect(firing).toHaveLength(1);
    expect(firing[0]!.metric.severity).toBe('page');
  }, 90_000);
});
