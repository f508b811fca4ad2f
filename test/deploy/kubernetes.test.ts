import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { tiers } from '@inferq/accounts';
import { maxWaitSeconds } from '@inferq/core';
import { createApiMetrics, createWorkerMetrics } from '@inferq/metrics';
import { apiEnvSchema, parseApiEnv } from '../../apps/api/src/env.ts';
import { dispatcherEnvSchema, parseDispatcherEnv } from '../../apps/webhooks/src/env.ts';
import { parseWorkerEnv, workerEnvSchema } from '../../apps/worker/src/env.ts';

/**
 * The Kubernetes manifests under deploy/kubernetes, rendered the way an operator applies them
 * (`kubectl kustomize`, the kustomize built into kubectl), then checked against the Kubernetes and
 * KEDA schemas (kubernetes-models) and against the apps themselves: every environment variable is
 * one the app's env.ts knows and parses, the grace periods cover the shutdown bounds, each pool's
 * autoscaler reads the queues of the models that pool serves.
 */
const root = join(import.meta.dirname, '../..');
const deployDir = join(root, 'deploy/kubernetes');

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
};

const models: Record<string, { validate(): void }> = {};
function validated(manifest: Manifest): void {
  const key = `${manifest.apiVersion}/${manifest.kind}`;
  const make: Record<string, (data: any) => { validate(): void }> = {
    'apps/v1/Deployment': (data) => new Deployment(data),
    'batch/v1/Job': (data) => new Job(data),
    'v1/ConfigMap': (data) => new ConfigMap(data),
    'v1/Service': (data) => new Service(data),
    'networking.k8s.io/v1/Ingress': (data) => new Ingress(data),
    'keda.sh/v1alpha1/ScaledObject': (data) => new ScaledObject(data),
  };
  const factory = make[key];
  if (!factory) throw new Error(`${key} ${manifest.metadata.name}: no schema known for this kind`);
  models[manifest.metadata.name] = factory(manifest);
  models[manifest.metadata.name]!.validate();
}

function kubectl(): string | undefined {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return 'kubectl';
  } catch {
    return undefined;
  }
}
const kubectlBinary = kubectl();
if (!kubectlBinary && process.env.CI)
  throw new Error('kubectl (with its built-in kustomize) is needed to render deploy/kubernetes');

function render(folder: string): Manifest[] {
  const text = execFileSync(kubectlBinary!, ['kustomize', join(deployDir, folder)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((document) => document.toJSON() as Manifest);
}

const placeholderEnv = {
  DATABASE_URL: 'postgresql://inferq:secret@postgres.example:5432/inferq',
  REDIS_URL: 'redis://redis.example:6379',
  WEBHOOK_SECRET_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
};

/** The Secrets the operator makes, and the keys each holds. */
const operatorSecrets: Record<string, string> = {
  DATABASE_URL: 'inferq-connections',
  REDIS_URL: 'inferq-connections',
  WEBHOOK_SECRET_KEYS: 'inferq-webhook-keys',
};

/** The container's environment as the pod would get it: envFrom ConfigMaps, then env. */
function containerEnv(manifests: Manifest[], container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const map = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === from.configMapRef?.name);
    if (!map) throw new Error(`envFrom names a ConfigMap that is not rendered: ${from.configMapRef?.name}`);
    Object.assign(env, map.data);
  }
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (entry.valueFrom?.secretKeyRef) {
      expect(entry.valueFrom.secretKeyRef).toEqual({ name: operatorSecrets[entry.name], key: entry.name });
      env[entry.name] = placeholderEnv[entry.name as keyof typeof placeholderEnv];
    } else if (entry.valueFrom?.configMapKeyRef) {
      const { name, key } = entry.valueFrom.configMapKeyRef;
      const value = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === name)?.data?.[key];
      if (value === undefined) throw new Error(`${entry.name} reads ${name}/${key}, which is not rendered`);
      env[entry.name] = value;
    } else if (entry.valueFrom?.fieldRef) env[entry.name] = 'pod-name';
    else throw new Error(`unexpected env source for ${entry.name}`);
  }
  return env;
}

const apps = {
  'apps/api/src/index.ts': { keys: Object.keys(apiEnvSchema.shape), parse: parseApiEnv },
  'apps/worker/src/index.ts': { keys: Object.keys(workerEnvSchema.shape), parse: parseWorkerEnv },
  'apps/webhooks/src/index.ts': { keys: Object.keys(dispatcherEnvSchema.shape), parse: parseDispatcherEnv },
} as const;

function podSpec(manifest: Manifest): any {
  return manifest.spec.template.spec;
}

describe.skipIf(!kubectlBinary)('Kubernetes manifests (deploy/kubernetes)', () => {
  const example = kubectlBinary ? render('overlays/example') : [];
  const byKind = (kind: string) => example.filter((manifest) => manifest.kind === kind);

  it.each(['base', 'overlays/example'])('%s renders, and every object is valid against its schema', (folder) => {
    const manifests = render(folder);
    expect(manifests.length).toBeGreaterThan(3);
    for (const manifest of manifests) validated(manifest);
  });

  it('has the API (Deployment + Service), the dispatcher, the migration Job and one worker Deployment per pool', () => {
    expect(
      byKind('Deployment')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(['inferq-api', 'inferq-webhooks', 'inferq-worker-mnist', 'inferq-worker-nsfw-gpu']);
    expect(byKind('Service').map((s) => s.metadata.name)).toEqual(['inferq-api']);
    const [job] = byKind('Job');
    expect(job?.spec.template.spec.containers[0].command).toEqual(['bash', 'scripts/prisma.sh', 'migrate', 'deploy']);
    // Postgres and Redis are external: their URLs come from a Secret the operator makes.
    expect(byKind('Secret')).toEqual([]);
    expect(byKind('StatefulSet')).toEqual([]);
  });

  it('reaches the API over TLS through an Ingress: the public paths to the API Service, /metrics not routed', () => {
    const [ingress, ...others] = byKind('Ingress');
    expect(others).toEqual([]);
    const tls = ingress!.spec.tls as Array<{ hosts: string[]; secretName: string }>;
    const rules = ingress!.spec.rules as Array<{
      host: string;
      http: {
        paths: Array<{
          path: string;
          pathType: string;
          backend: { service: { name: string; port: { name?: string; number?: number } } };
        }>;
      };
    }>;
    expect(tls.length).toBeGreaterThan(0);
    for (const rule of rules)
      expect(
        tls.some((entry) => entry.hosts.includes(rule.host) && entry.secretName.length > 0),
        rule.host,
      ).toBe(true);
    // cert-manager issues the certificate into that Secret (or the operator creates it; see the file).
    expect(ingress!.metadata.annotations?.['cert-manager.io/cluster-issuer']).toBeTruthy();
    const [service] = byKind('Service');
    const servicePorts = service!.spec.ports as Array<{ name: string; port: number }>;
    const paths = rules.flatMap((rule) => rule.http.paths);
    for (const path of paths) {
      expect(path.backend.service.name).toBe('inferq-api');
      const { name, number } = path.backend.service.port;
      expect(
        servicePorts.some((port) => port.name === name || port.port === number),
        `${path.path} → port ${name ?? number}`,
      ).toBe(true);
    }
    expect(paths.map((path) => path.path).sort()).toEqual(['/dashboard', '/docs', '/openapi.json', '/v1']);
    const routed = (url: string) =>
      paths.some((path) =>
        path.pathType === 'Exact' ? url === path.path : url === path.path || url.startsWith(`${path.path}/`),
      );
    expect(routed('/metrics')).toBe(false);
    expect(routed('/v1/jobs')).toBe(true);
    // The proxy takes the largest upload the API takes (0: no limit of its own) and holds a waiting request.
    const annotations = ingress!.metadata.annotations as Record<string, string>;
    const largest = Math.max(...Object.values(tiers).map((tier) => tier.maxUploadBytes * tier.maxBatchImages));
    const bodySize = annotations['nginx.ingress.kubernetes.io/proxy-body-size']!;
    expect(
      bodySize === '0' || Number.parseInt(bodySize, 10) * 1024 ** 2 >= largest,
      `proxy-body-size ${bodySize}`,
    ).toBe(true);
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThan(maxWaitSeconds);
  });

  it('makes the first administrator with a Job run once by hand (bootstrap), never by the installation', () => {
    expect(byKind('Job').map((job) => job.metadata.name)).toEqual(['inferq-migrate']);
    const [job, ...others] = render('bootstrap');
    expect(others).toEqual([]);
    validated(job!);
    expect(job!.kind).toBe('Job');
    expect(job!.spec.backoffLimit).toBe(0);
    expect(job!.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    const container = job!.spec.template.spec.containers[0];
    expect(container.image).toBe('registry.example.com/inferq:1.0.0');
    expect(container.command.slice(0, 4)).toEqual(['node', 'apps/admin/src/index.ts', 'users', 'create']);
    expect(container.command.join(' ')).toContain('--role admin');
    // Kubernetes expands $(ADMIN_EMAIL) in the command from the container's env.
    const env = containerEnv([], container);
    expect(container.command).toContain('$(ADMIN_EMAIL)');
    expect(env.ADMIN_EMAIL).toMatch(/@/);
    expect(env.DATABASE_URL).toBe(placeholderEnv.DATABASE_URL);
  });

  it('gives every container only settings its app knows, and values its env.ts accepts', () => {
    for (const deployment of byKind('Deployment')) {
      for (const container of podSpec(deployment).containers) {
        const app = apps[container.command[1] as keyof typeof apps];
        expect(app, `${deployment.metadata.name} runs ${container.command.join(' ')}`).toBeDefined();
        const env = containerEnv(example, container);
        for (const name of Object.keys(env)) expect(app.keys, `${deployment.metadata.name}: ${name}`).toContain(name);
        expect(() => app.parse(env)).not.toThrow();
      }
    }
  });

  it("selects each Deployment's pods alone, and the Service the API pods", () => {
    const deployments = byKind('Deployment');
    for (const deployment of deployments) {
      const selector = deployment.spec.selector.matchLabels as Record<string, string>;
      const matches = (labels: Record<string, string>) =>
        Object.entries(selector).every(([key, value]) => labels[key] === value);
      expect(matches(deployment.spec.template.metadata.labels)).toBe(true);
      const others = deployments.filter(
        (other) => other !== deployment && matches(other.spec.template.metadata.labels),
      );
      expect(
        others.map((other) => other.metadata.name),
        deployment.metadata.name,
      ).toEqual([]);
    }
    const [service] = byKind('Service');
    const selected = deployments.filter((d) =>
      Object.entries(service!.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v),
    );
    expect(selected.map((d) => d.metadata.name)).toEqual(['inferq-api']);
  });

  it('lets each process finish its shutdown within terminationGracePeriodSeconds', () => {
    for (const deployment of byKind('Deployment')) {
      const spec = podSpec(deployment);
      const container = spec.containers[0];
      const env = containerEnv(example, container);
      const preStopS =
        container.lifecycle?.preStop?.exec?.command[0] === 'sleep'
          ? Number(container.lifecycle.preStop.exec.command[1])
          : 0;
      const shutdownMs = Number(env.SHUTDOWN_TIMEOUT_MS);
      expect(shutdownMs, `${deployment.metadata.name} sets SHUTDOWN_TIMEOUT_MS`).toBeGreaterThan(0);
      // Each app exits by itself at most 5 s after SHUTDOWN_TIMEOUT_MS (the API's and the supervisor's force timer).
      expect(spec.terminationGracePeriodSeconds * 1000, deployment.metadata.name).toBeGreaterThanOrEqual(
        preStopS * 1000 + shutdownMs + 5000,
      );
      if (container.command[1] === 'apps/worker/src/index.ts') {
        // An attempt that has started gets its whole time limit before the pod is killed.
        expect(shutdownMs).toBeGreaterThanOrEqual(Number(env.JOB_TIMEOUT_MS));
        expect(env.WORKER_PROCESSES).toBe('1');
      }
    }
  });

  it('scales each pool on the queue depth of exactly the models it serves, prioritized jobs counted', () => {
    const scaledObjects = byKind('ScaledObject');
    const pools = byKind('Deployment').filter(
      (d) => podSpec(d).containers[0].command[1] === 'apps/worker/src/index.ts',
    );
    expect(scaledObjects.map((s) => s.spec.scaleTargetRef.name).sort()).toEqual(
      pools.map((p) => p.metadata.name).sort(),
    );
    for (const scaled of scaledObjects) {
      const pool = pools.find((p) => p.metadata.name === scaled.spec.scaleTargetRef.name)!;
      const served = containerEnv(example, podSpec(pool).containers[0]).WORKER_MODELS!.split(',');
      expect(served).not.toContain('*');
      const [trigger] = scaled.spec.triggers;
      expect(trigger.type).toBe('prometheus');
      const query: string = trigger.metadata.query;
      expect(query).toMatch(
        /^sum\(max by \(model, state\) \(inferq_queue_jobs\{model=~"([^"]+)", state=~"([^"]+)"\}\)\)$/,
      );
      const [, modelMatcher, stateMatcher] = /model=~"([^"]+)", state=~"([^"]+)"/.exec(query)!;
      expect(modelMatcher!.split('|').sort()).toEqual(served.sort());
      expect(stateMatcher!.split('|')).toEqual(expect.arrayContaining(['waiting', 'prioritized']));
      expect(Number(trigger.metadata.threshold)).toBeGreaterThan(0);
      expect(scaled.spec.minReplicaCount).toBe(0);
      // A query that fails must not read as an empty queue.
      expect(trigger.metadata.ignoreNullValues).toBe('false');
      expect(scaled.spec.fallback.replicas).toBeGreaterThanOrEqual(1);
      expect(pool.spec.replicas, 'the HPA owns the replica count').toBeUndefined();
    }
  });

  it('asks for a GPU in the GPU pool and runs its CUDA image there', () => {
    const gpu = byKind('Deployment').find((d) => d.metadata.name === 'inferq-worker-nsfw-gpu')!;
    const container = podSpec(gpu).containers[0];
    expect(container.resources.limits['nvidia.com/gpu']).toBe('1');
    expect(container.image).toMatch(/inferq-gpu:/);
    expect(containerEnv(example, container).TF_BACKEND).toBe('tensorflow-gpu');
    const cpu = byKind('Deployment').find((d) => d.metadata.name === 'inferq-worker-mnist')!;
    expect(podSpec(cpu).containers[0].resources.limits['nvidia.com/gpu']).toBeUndefined();
  });

  it('has every worker listen on the pod address, where the kubelet probes and Prometheus reach it', () => {
    const workers = byKind('Deployment').filter(
      (d) => podSpec(d).containers[0].command[1] === 'apps/worker/src/index.ts',
    );
    expect(workers.length).toBeGreaterThan(0);
    for (const worker of workers)
      expect(containerEnv(example, podSpec(worker).containers[0]).WORKER_HOST, worker.metadata.name).toBe('0.0.0.0');
  });

  it('annotates every scraped pod with a port its container listens on', () => {
    for (const deployment of byKind('Deployment')) {
      const annotations = deployment.spec.template.metadata.annotations ?? {};
      if (annotations['prometheus.io/scrape'] !== 'true') continue;
      const ports = podSpec(deployment).containers[0].ports.map((port: { containerPort: number }) =>
        String(port.containerPort),
      );
      expect(ports).toContain(annotations['prometheus.io/port']);
      expect(annotations['prometheus.io/path']).toBe('/metrics');
    }
    const scraped = byKind('Deployment').filter(
      (d) => d.spec.template.metadata.annotations?.['prometheus.io/scrape'] === 'true',
    );
    expect(scraped.map((d) => d.metadata.name)).toContain('inferq-api');
  });
});

describe('monitoring (deploy/kubernetes/monitoring)', () => {
  const api = createApiMetrics({ defaultMetrics: false });
  const worker = createWorkerMetrics({ defaultMetrics: false });
  /** Every series name the platform exports, with the labels it carries. */
  const exported = new Map<string, string[]>();
  for (const registry of [api.registry, worker.registry]) {
    for (const metric of registry.getMetricsAsArray()) {
      const {
        name,
        labelNames = [],
        type,
      } = metric as unknown as { name: string; labelNames?: string[]; type: string };
      const names = type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
      for (const series of names) exported.set(series, [...labelNames, ...(series.endsWith('_bucket') ? ['le'] : [])]);
    }
  }
  // Labels Prometheus adds from the scrape config.
  const targetLabels = ['job', 'instance', 'namespace', 'pod', 'component', 'pool'];
  exported.set('up', []);

  const dashboard = JSON.parse(readFileSync(join(deployDir, 'monitoring/grafana-dashboard.json'), 'utf8'));
  const panels = (dashboard.panels as any[]).filter((panel) => panel.type !== 'row');
  const expressions: Array<{ panel: string; expr: string }> = panels.flatMap((panel) =>
    panel.targets.map((target: { expr: string }) => ({ panel: panel.title, expr: target.expr })),
  );

  it('has panels for queue depth per model, throughput, latency percentiles, batch sizes and refusals', () => {
    const uses = (pattern: RegExp) => expressions.some(({ expr }) => pattern.test(expr));
    expect(uses(/inferq_queue_jobs\{[^}]*state=~"waiting\|prioritized"/)).toBe(true);
    expect(uses(/rate\(inferq_jobs_finished_total/)).toBe(true);
    expect(uses(/histogram_quantile\(0\.99, sum by \(le, model\) \(rate\(inferq_job_queue_wait_seconds_bucket/)).toBe(
      true,
    );
    expect(uses(/inferq_batch_size_sum/)).toBe(true);
    expect(uses(/inferq_rate_limit_rejections_total/)).toBe(true);
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
  });

  it.each(expressions)('$panel: reads only series and labels that exist', ({ expr }) => {
    const selectors = [...expr.matchAll(/\b(inferq_[a-z_]+|up)\b(\{([^}]*)\})?/g)];
    expect(selectors.length).toBeGreaterThan(0);
    for (const [, name, , matchers] of selectors) {
      expect([...exported.keys()], expr).toContain(name);
      for (const [, label] of (matchers ?? '').matchAll(/([a-z_]+)\s*(=~|!~|!=|=)/g)) {
        expect([...exported.get(name!)!, ...targetLabels], `${name} has no label ${label}`).toContain(label);
      }
    }
    for (const [, labels] of expr.matchAll(/by \(([^)]*)\)/g)) {
      for (const label of labels!.split(',').map((l) => l.trim())) {
        const known =
          selectors.some(([, name]) => exported.get(name!)!.includes(label)) || targetLabels.includes(label);
        expect(known, `grouping by ${label} in ${expr}`).toBe(true);
      }
    }
  });

  it('scrape config keeps the InferQ pods and copies the pool and component labels the dashboard groups by', () => {
    const config = parse(readFileSync(join(deployDir, 'monitoring/prometheus-scrape.yaml'), 'utf8'));
    const [job] = config.scrape_configs;
    expect(job.kubernetes_sd_configs).toEqual([{ role: 'pod' }]);
    const targets = job.relabel_configs.map((rule: { target_label?: string }) => rule.target_label).filter(Boolean);
    expect(targets).toEqual(expect.arrayContaining(['pool', 'component', 'pod', '__address__', '__metrics_path__']));
    // The dashboard's `up{job="inferq"}` panel depends on this job name.
    expect(expressions.some(({ expr }) => expr.includes(`job="${job.job_name}"`))).toBe(true);
  });
});
