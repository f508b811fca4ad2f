import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { AppError, type ErrorCode } from '@inferq/core';
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
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
      answerClientError(error, socket, this.#options.logger),
    );
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

/**
 * Node answers a request it cannot parse (headers over its 16 KiB limit, a broken request line,
 * a request head that takes too long) before Express sees it, with a bare status line. This gives
 * those answers the platform's error shape and a request id too, and logs them.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, logger: Logger): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 'HEADERS_TOO_LARGE'
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'REQUEST_TIMEOUT'
        : 'BAD_REQUEST';
  const appError = new AppError(
    code,
    code === 'HEADERS_TOO_LARGE'
      ? 'The request headers are too large.'
      : code === 'REQUEST_TIMEOUT'
        ? 'The request took too long to arrive.'
        : 'The request is malformed.',
  );
  const body = JSON.stringify(appError.toBody());
  const requestId = randomUUID();
  logger.warn({ req: { id: requestId }, code, parserError: error.code }, 'unparsable request refused');
  socket.end(
    `HTTP/1.1 ${appError.status} ${STATUS_CODES[appError.status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
