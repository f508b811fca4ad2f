// The flooding user of `pnpm bench fairness`, in a process of its own: its requests and answers
// run on their own event loop, as another client's would, so the measured user's latencies are
// not also the time this process spends sending and reading the flood. Driven over IPC by
// floodProcess.ts.
import { HttpClient, TimeoutError, type MultipartBody } from './loadClient.ts';

export type FloodCommand =
  /** Keeps `clients` submits in flight (each sends again as soon as it is answered) until `stop`. */
  | { cmd: 'flood'; clients: number }
  | { cmd: 'stop' }
  /** Sends `count` submits at once: answers `sent` once all are handed to the sockets, then `done`. */
  | { cmd: 'burst'; count: number }
  | { cmd: 'exit' };
export type FloodReply =
  | { kind: 'ready' }
  | { kind: 'sent' }
  | { kind: 'done'; statuses: Record<string, number> }
  | { kind: 'error'; message: string };

export interface FloodSetup {
  /** The API processes: flood client i (and burst submit i) goes to `urls[i % urls.length]`. */
  urls: string[];
  headers: Record<string, string>;
  upload: MultipartBody;
  connections: number;
}

type Statuses = Record<string, number>;
const count = (statuses: Statuses, key: string) => (statuses[key] = (statuses[key] ?? 0) + 1);

/** `202`, or the status and error code of a refusal (`503 SERVER_BUSY`). */
export function outcome(status: number, body: unknown): string {
  return status === 202
    ? '202'
    : `${status} ${(body as { error?: { code?: string } } | null)?.error?.code ?? ''}`.trim();
}

function reply(message: FloodReply): void {
  process.send?.(message);
}

/** One process's flood: set up from the first message, then commands until `exit`. */
function serve(setup: FloodSetup): void {
  const https = setup.urls.map(
    (url) => new HttpClient(url, { connections: Math.ceil(setup.connections / setup.urls.length) }),
  );
  const upload = { body: Buffer.from(setup.upload.body), contentType: setup.upload.contentType };
  const submit = async (statuses: Statuses, client: number) => {
    try {
      const answer = await https[client % https.length]!.request('POST', '/v1/jobs', {
        body: upload,
        headers: setup.headers,
        timeoutMs: 10_000,
      });
      count(statuses, outcome(answer.status, answer.body));
    } catch (error) {
      count(statuses, error instanceof TimeoutError ? 'timeout' : 'error');
    }
  };
  let stop = false;
  let flood: { statuses: Statuses; running: Promise<unknown> } | null = null;

  process.on('message', (command: FloodCommand) => {
    switch (command.cmd) {
      case 'flood': {
        stop = false;
        const statuses: Statuses = {};
        const running = Promise.all(
          Array.from({ length: command.clients }, async (_, client) => {
            while (!stop) await submit(statuses, client);
          }),
        );
        flood = { statuses, running };
        reply({ kind: 'sent' });
        break;
      }
      case 'stop': {
        stop = true;
        const current = flood;
        flood = null;
        if (!current) reply({ kind: 'done', statuses: {} });
        else void current.running.then(() => reply({ kind: 'done', statuses: current.statuses }));
        break;
      }
      case 'burst': {
        const statuses: Statuses = {};
        const answers = Promise.all(Array.from({ length: command.count }, (_, i) => submit(statuses, i)));
        // undici writes each request once its socket is free: the next turn of the loop has them all out.
        setImmediate(() => reply({ kind: 'sent' }));
        void answers.then(() => reply({ kind: 'done', statuses }));
        break;
      }
      case 'exit':
        void Promise.all(https.map((http) => http.close())).finally(() => process.exit(0));
        break;
    }
  });
  reply({ kind: 'ready' });
}

process.once('message', (setup: FloodSetup) => {
  try {
    serve(setup);
  } catch (error) {
    reply({ kind: 'error', message: (error as Error).message });
    process.exit(1);
  }
});
