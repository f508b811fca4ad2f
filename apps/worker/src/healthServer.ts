import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthServerOptions {
  host: string;
  port: number;
  /** Each readiness check answers true when its dependency is usable. */
  checks: Record<string, () => Promise<boolean> | boolean>;
  /** Extra JSON shown on /readyz (backend, loaded models). */
  describe?: () => Record<string, unknown>;
  /** Served on /metrics in the Prometheus text format (a prom-client Registry). */
  metrics?: { contentType: string; metrics(): Promise<string> };
}

/** `/healthz` (process up), `/readyz` (Postgres, Redis, model loaded) and `/metrics` for the worker process. */
export class HealthServer {
  readonly #options: HealthServerOptions;
  #server: Server | undefined;

  constructor(options: HealthServerOptions) {
    this.#options = options;
  }

  async start(): Promise<AddressInfo> {
    const server = createServer(async (req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'GET') return send(405, { error: { code: 'BAD_REQUEST', message: 'GET only.' } });
      if (req.url === '/healthz') return send(200, { status: 'ok' });
      if (req.url === '/readyz') {
        const entries = await Promise.all(
          Object.entries(this.#options.checks).map(async ([name, check]) => [name, await Promise.resolve().then(check).catch(() => false)] as const),
        );
        const ready = entries.every(([, ok]) => ok);
        return send(ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks: Object.fromEntries(entries), ...this.#options.describe?.() });
      }
      const metrics = this.#options.metrics;
      if (req.url === '/metrics' && metrics) {
        try {
          const text = await metrics.metrics();
          res.writeHead(200, { 'Content-Type': metrics.contentType });
          return res.end(text);
        } catch {
          return send(500, { error: { code: 'INTERNAL', message: 'Metrics could not be collected.' } });
        }
      }
      send(404, { error: { code: 'NOT_FOUND', message: 'No such route.' } });
    });
    this.#server = server;
    server.listen(this.#options.port, this.#options.host);
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    return server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
