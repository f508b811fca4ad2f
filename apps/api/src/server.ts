import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Logger } from 'pino';

export interface HttpServerOptions {
  app: Express;
  logger: Logger;
  host: string;
  port: number;
  /** How long in-flight requests get to finish on shutdown. @defaultValue 10000 */
  shutdownTimeoutMs?: number;
}

/** An HTTP server that stops in order: refuse new connections, drain, then close idle sockets. */
export class HttpServer {
  readonly #options: HttpServerOptions;
  #server: Server | undefined;

  constructor(options: HttpServerOptions) {
    this.#options = options;
  }

  async start(): Promise<AddressInfo> {
    const { app, host, port } = this.#options;
    const server = app.listen(port, host);
    this.#server = server;
    // Longer than a typical proxy's idle timeout, so the proxy closes first.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 120_000;
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    return server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    const timeoutMs = this.#options.shutdownTimeoutMs ?? 10_000;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
    await closed;
    clearTimeout(timer);
  }
}
