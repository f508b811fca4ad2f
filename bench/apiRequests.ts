// API CPU per request, by kind: what each of the requests a job costs (the submit, the poll of
// a finished job, an authenticated read) spends in the API process, with the workers idle or
// stopped so that nothing else runs there. Closed loop, `--clients` at once, each kind in turn.
//   pnpm bench requests [--clients 16] [--requests 4000] [--image 32x32] [--photos fixtures|DIR]
// The submits send a photo-like JPEG of `--image`'s size, or with `--photos` real photos at that
// size (as `pnpm bench e2e` sends them), each client the next in turn.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchImage, benchPhotos } from './lib/benchImage.ts';
import { closedLoop, HttpClient, multipartImage, waitForJob } from './lib/loadClient.ts';
import { envFlag, startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { CpuMeter, machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { printTable, writeResults } from './lib/stats.ts';
import { createTinyModelRegistry, tinyModelName } from './lib/tinyModel.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '16' },
    requests: { type: 'string', default: '4000' },
    'api-env': { type: 'string' },
    only: { type: 'string' },
    image: { type: 'string', default: '32x32' },
    photos: { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
const clients = Number(values.clients);
const requests = Number(values.requests);
const modelsDir = await createTinyModelRegistry();
const uploads = values.photos
  ? (await benchPhotos(values.photos, values.image)).map(({ bytes }, i) =>
      multipartImage(bytes, `photo-${i}.jpg`, 'image/jpeg'),
    )
  : [(await benchImage(values.image)).upload];
let sent = 0;
const nextUpload = () => uploads[sent++ % uploads.length]!;
const services = await startBenchServices({});
console.log(`API CPU per request: ${clients} clients, ${requests} requests a kind; ${machineLoad().uptime}`);
const rows: Array<Record<string, string>> = [];
try {
  const platform = await startPlatform({
    services,
    modelsDir,
    defaultModel: tinyModelName,
    workers: 1,
    queueName: `bench-${randomUUID()}`,
    api: envFlag(values['api-env']),
    cpuProfileDir: values['cpu-prof'],
  });
  const users = await benchUsers(services, clients);
  const http = new HttpClient(platform.api.url, { connections: clients * 2 });
  try {
    const finished = await Promise.all(
      users.map(async (user) => {
        const answer = await http.request<{ id: string }>('POST', '/v1/jobs', {
          body: nextUpload(),
          headers: user.headers,
        });
        await waitForJob(http, answer.body.id, { headers: user.headers });
        return answer.body.id;
      }),
    );
    const kinds: Array<{ kind: string; send: (client: number) => Promise<number> }> = [
      {
        kind: 'GET /v1/account',
        send: async (c) => (await http.request('GET', '/v1/account', { headers: users[c]!.headers })).status,
      },
      {
        kind: 'GET /v1/jobs/:id (finished)',
        send: async (c) =>
          (await http.request('GET', `/v1/jobs/${finished[c]}`, { headers: users[c]!.headers })).status,
      },
      {
        kind: 'GET /v1/jobs/:id?wait=20 (finished)',
        send: async (c) =>
          (await http.request('GET', `/v1/jobs/${finished[c]}?wait=20`, { headers: users[c]!.headers })).status,
      },
      {
        kind: `POST /v1/jobs (${values.image} ${values.photos ? `${values.photos} photos` : 'JPEG'})`,
        send: async (c) =>
          (await http.request('POST', '/v1/jobs', { body: nextUpload(), headers: users[c]!.headers })).status,
      },
    ];
    for (const { kind, send } of kinds.filter((entry) => !values.only || entry.kind.startsWith(values.only))) {
      const statuses: Record<string, number> = {};
      const loop = (count: number) =>
        closedLoop({
          clients,
          jobs: count,
          task: async (client) => {
            const status = await send(client);
            statuses[status] = (statuses[status] ?? 0) + 1;
          },
        });
      await loop(clients * 20);
      const meter = new CpuMeter();
      meter.start([platform.api.pid]);
      const wallMs = await loop(requests);
      const cpu = meter.since([platform.api.pid]);
      rows.push({
        request: kind,
        'API CPU ms': (cpu / requests).toFixed(3),
        'requests/s': (requests / (wallMs / 1000)).toFixed(0),
        statuses: JSON.stringify(statuses),
      });
    }
  } finally {
    await http.close();
    await platform.stop();
  }
} finally {
  await services.stop();
  rmSync(modelsDir, { recursive: true, force: true });
}
printTable(rows);
console.log(`wrote ${writeResults('api-requests', { clients, requests, rows })}`);
