import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, isDatabaseUnavailable, type Database } from '../src/index.ts';

/**
 * The errors come from real failures of the real driver stack (Prisma + @prisma/adapter-pg + pg):
 * a port where nothing listens, a server that hangs up or never answers, and a backend that
 * Postgres terminates with 57P01 as it does on shutdown.
 */

async function listen(onConnection: (socket: Socket) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `postgresql://postgres@127.0.0.1:${port}/postgres` };
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the query to fail');
}

const opened: Database[] = [];
const servers: Server[] = [];
const sockets = new Set<Socket>();
function open(url: string, connectionTimeoutMs = 1000): Database {
  const db = createDatabase({ url, poolSize: 1, connectionTimeoutMs });
  opened.push(db);
  return db;
}

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
  await Promise.all(opened.map((db) => db.$disconnect().catch(() => {})));
});

describe('isDatabaseUnavailable', () => {
  it('recognises a server that is not listening, for model queries (P1001) and raw queries (P2010)', async () => {
    const { server, url } = await listen(() => {});
    await new Promise((resolve) => server.close(resolve));
    const db = open(url);
    const model = await errorOf(db.job.findFirst());
    const raw = await errorOf(db.$queryRaw`SELECT 1`);
    const execute = await errorOf(db.$executeRaw`SELECT 1`);
    const transaction = await errorOf(db.$transaction(async (tx) => tx.$queryRaw`SELECT 1`));
    expect([model, raw, execute, transaction].map(isDatabaseUnavailable)).toEqual([true, true, true, true]);
  });

  it('recognises a connection the server hangs up on (pg: "Connection terminated unexpectedly")', async () => {
    const { server, url } = await listen((socket) => socket.destroy());
    servers.push(server);
    const db = open(url);
    expect(isDatabaseUnavailable(await errorOf(db.$queryRaw`SELECT 1`))).toBe(true);
    expect(isDatabaseUnavailable(await errorOf(db.job.count()))).toBe(true);
  });

  it('recognises a server that accepts but never answers (connection timeout)', async () => {
    const { server, url } = await listen((socket) => {
      sockets.add(socket);
    });
    servers.push(server);
    const db = open(url, 300);
    expect(isDatabaseUnavailable(await errorOf(db.$queryRaw`SELECT 1`))).toBe(true);
  });

  it('recognises a backend terminated by the server (57P01, as on shutdown)', async () => {
    const db = open(inject('databaseUrl'));
    const [row] = await db.$queryRaw<Array<{ pid: number }>>`SELECT pg_backend_pid() AS pid`;
    const pid = row!.pid;
    const admin = open(inject('databaseUrl'));
    const slow = errorOf(db.$queryRaw`SELECT pg_sleep(5)`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await admin.$queryRaw`SELECT pg_terminate_backend(${pid}::int)`;
    expect(isDatabaseUnavailable(await slow)).toBe(true);
  });

  it('does not mistake a bad query or a constraint violation for an outage', async () => {
    const db = open(inject('databaseUrl'));
    const syntax = await errorOf(db.$queryRawUnsafe('SELEC 1'));
    const missingTable = await errorOf(db.$queryRaw`SELECT * FROM no_such_table`);
    const badUuid = await errorOf(db.$queryRaw`SELECT 'nope'::uuid`);
    expect([syntax, missingTable, badUuid].map(isDatabaseUnavailable)).toEqual([false, false, false]);
    expect(isDatabaseUnavailable(new Error('boom'))).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
  });
});
