const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  // Postgres: admin shutdown, crash shutdown, cannot connect now, too many connections
  '57P01',
  '57P02',
  '57P03',
  '53300',
  // Prisma: cannot reach server, server closed the connection, pool timeout
  'P1001',
  'P1002',
  'P1017',
  'P2024',
]);

/**
 * True when an error means "Postgres cannot be reached right now" rather than a bad query.
 * Walks the cause chain because the pg driver adapter wraps socket errors.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 8; depth++) {
    if (typeof current !== 'object') return false;
    const candidate = current as { code?: unknown; name?: unknown; cause?: unknown; kind?: unknown; originalCode?: unknown };
    if (typeof candidate.code === 'string' && unavailableCodes.has(candidate.code)) return true;
    if (typeof candidate.originalCode === 'string' && unavailableCodes.has(candidate.originalCode)) return true;
    if (candidate.name === 'PrismaClientInitializationError') return true;
    if (candidate.kind === 'DatabaseNotReachable' || candidate.kind === 'ConnectionClosed') return true;
    current = candidate.cause;
  }
  return false;
}
