import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthServerOptions {
  /** The address to listen on: loopback unless the host's probes and scrapers come from outside. */
  host: string;
  port: number;
  /** Each readiness check answers true when its dependency is usable. */
  checks: Record<string, () => Promise<boolean> | boolean>;
  /** Extra JSON shown on /readyz (backend, loaded models). */
  describe?: () => Record<string, unknown>;
  /** Served on /metrics in the Prometheus text format (a prom-client Registry). */
  metrics?: { contentType: string; metrics(): Promise<string> };
  /**
   * When set, /metrics needs `Authorization: Bearer <token>` (the API's METRICS_TOKEN, so one
   * scrape configuration serves both). @defaultValue none: /metrics is open
   */
  metricsToken?: string | undefined;
}

/** `Bearer <token>`; the scheme is case-insensitive (RFC 7235). */
const bearerPattern = /^bearer +(\S+) *$/i;

/**
 * Absolute file paths (`/srv/inferq/models/x/LIVE`, `file:///…`, `C:\…`) in text shown on
 * /readyz, which error messages of the registry and the backends carry: where the platform is
 * installed is nothing a probe needs. Only the last segment is kept. A URL's path is left alone
 * (it follows `host`, not a space or a quote).
 */
const absolutePathPattern = /(?<![\w:/.~-])(?:file:\/\/)?(?:\/[^\s/'"`()<>,;]+){2,}|\b[A-Za-z]:\\[^\s'"`()<>,;]+/g;

/** `value` with every absolute path in its strings cut to its last segment (`…/LIVE`). */
export function withoutPaths(value: unknown): unknown {
  if (typeof value === 'string')
    return value.replace(absolutePathPattern, (found) => `…/${found.split(/[\\/]/).pop() ?? ''}`);
  if (Array.isArray(value)) return value.map(withoutPaths);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withoutPaths(item)]));
  return value;
}

/** `/healthz` (process up), `/readyz` (Postgres, Redis, model loaded) and `/metrics` for the worker process. */
export class HealthServer {
  readonly #options: HealthServerOptions;
  #server: Server | undefined;

  constructor(options: HealthServerOptions) {
    this.#options = options;
  }

  #metricsAllowed(authorization: string | undefined): boolean {
    const token = this.#options.metricsToken;
    if (!token) return true;
    const given = bearerPattern.exec(authorization ?? '')?.[1] ?? '';
    // Hashes compared, so the comparison takes the same time whatever the given length.
    return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(token).digest());
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
          Object.entries(this.#options.checks).map(
            async ([name, check]) =>
              [
                name,
                await Promise.resolve()
                  .then(check)
                  .catch(() => false),
              ] as const,
          ),
        );
        const ready = entries.every(([, ok]) => ok);
        return send(
          ready ? 200 : 503,
          withoutPaths({
            status: ready ? 'ready' : 'not_ready',
            checks: Object.fromEntries(entries),
            ...this.#options.describe?.(),
          }),
        );
      }
      const metrics = this.#options.metrics;
      if (req.url === '/metrics' && metrics) {
        if (!this.#metricsAllowed(req.headers.authorization)) {
          res.setHeader('WWW-Authenticate', 'Bearer');
          return send(401, {
            error: {
              code: 'UNAUTHENTICATED',
              message: 'The metrics token is required: Authorization: Bearer <METRICS_TOKEN>.',
            },
          });
        }
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
