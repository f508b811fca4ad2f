import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createApiMetrics, createWorkerMetrics } from '@inferq/metrics';

const run = promisify(execFile);
const monitoring = join(import.meta.dirname, '../../deploy/kubernetes/monitoring');

/**
 * The alert rules shipped in deploy/kubernetes/monitoring, checked by Prometheus's own promtool
 * (Debian's `prometheus` package; .ci/run installs it): the file loads, and its unit tests
 * (alert-rules.test.yaml) pass, each alert firing and staying quiet where it should.
 */
describe('alert rules (promtool)', () => {
  it('load', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', 'alert-rules.yaml'], { cwd: monitoring });
    expect(stdout).toMatch(/SUCCESS: 7 rules found/);
  });

  it('pass their unit tests', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', 'alert-rules.test.yaml'], { cwd: monitoring });
    expect(stdout).toMatch(/SUCCESS/);
  });

  it('name only series the API and the worker export (or Prometheus itself)', async () => {
    const rules = parse(readFileSync(join(monitoring, 'alert-rules.yaml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
    };
    const exported = new Set<string>(['up']);
    for (const registry of [
      createApiMetrics({ defaultMetrics: false }).registry,
      createWorkerMetrics({ defaultMetrics: false }).registry,
    ]) {
      for (const metric of await registry.getMetricsAsJSON()) exported.add(metric.name);
    }
    const named = rules.groups.flatMap((group) =>
      group.rules.flatMap((rule) => [...rule.expr.matchAll(/\b(inferq_[a-z_]+|up)\b/g)].map((match) => match[1]!)),
    );
    expect(named.length).toBeGreaterThan(7);
    expect(named.filter((name) => !exported.has(name))).toEqual([]);
  });
});
