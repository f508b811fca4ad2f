const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  // Postgres: admin shutdown, crash shutdown, cannot connect now, too many connections, the
  // server is starting up or in recovery (08xxx: connection exceptions)
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  // Prisma: cannot reach server, timed out, server closed the connection, pool timeout
  'P1001',
  'P1002',
  'P1017',
  'P2024',
]);

/** `kind` values of `@prisma/adapter-pg`'s DriverAdapterError that mean the server is gone. */
const unavailableKinds = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

/**
 * The pg driver raises these without any code when the socket drops mid-query (immediate
 * shutdown, crash, network cut) or a connection cannot be made in time, so the exact messages of
 * pg and pg-pool are the only signal. Exact matches of the driver's own strings, never our text.
 */
const pgDriverMessages = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
]);

interface ErrorLike {
  code?: unknown;
  originalCode?: unknown;
  name?: unknown;
  kind?: unknown;
  message?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: unknown };
}

/**
 * True when an error means "Postgres cannot be reached right now" rather than a bad query.
 *
 * Walks the cause chain and Prisma's `meta.driverAdapterError`: with `@prisma/adapter-pg` a model
 * query fails with P1001, but a raw query (`$queryRaw`, `$executeRaw`, used by the job store)
 * fails with P2010 "raw query failed" whose only hint is the adapter error in `meta`
 * (`kind: 'DatabaseNotReachable'`, or the server's code such as 57P01 on shutdown); and a socket
 * dropped mid-query surfaces as the pg driver's plain `Error` with no code at all.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const pending: unknown[] = [error];
  for (let seen = 0; pending.length > 0 && seen < 16; seen++) {
    const current = pending.shift();
    if (!current || typeof current !== 'object') continue;
    const candidate = current as ErrorLike;
    if (typeof candidate.code === 'string' && unavailableCodes.has(candidate.code)) return true;
    if (typeof candidate.originalCode === 'string' && unavailableCodes.has(candidate.originalCode)) return true;
    if (typeof candidate.kind === 'string' && unavailableKinds.has(candidate.kind)) return true;
    if (candidate.name === 'PrismaClientInitializationError') return true;
    if (typeof candidate.message === 'string' && pgDriverMessages.has(candidate.message)) return true;
    pending.push(candidate.cause, candidate.meta?.driverAdapterError);
  }
  return false;
}
