import { createServer } from 'node:net';

/** A port `pnpm start` is about to listen on, and the setting that moves it. */
export interface PortClaim {
  port: number;
  host: string;
  /** What listens there, e.g. "the API". */
  what: string;
  /** The environment variable that chooses the port, e.g. `PORT`. */
  setting: string;
}

/**
 * The first claim whose port cannot be listened on now (in use, or not allowed), as one line a
 * person can act on; null when all are free. Checked before anything starts, so a port in use is
 * said at once rather than as a stack trace once the databases, migrations and models are done.
 */
export async function firstBusyPort(claims: readonly PortClaim[]): Promise<string | null> {
  for (const claim of claims) {
    const problem = await tryListen(claim.port, claim.host);
    if (problem === null) continue;
    const why =
      problem === 'EADDRINUSE'
        ? 'is in use'
        : problem === 'EACCES'
          ? 'is not allowed for this user'
          : `cannot be listened on (${problem})`;
    return `port ${claim.port} on ${claim.host} (${claim.what}, ${claim.setting}) ${why}: stop what holds it, or choose another, e.g. ${claim.setting}=${claim.port + 1} pnpm start`;
  }
  return null;
}

function tryListen(port: number, host: string): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(null)));
  });
}
