// Submits by reference against multipart, and what moving inputs out of Postgres saves.
//
// 1. API CPU per job and jobs/s of `POST /v1/jobs` with the image in a multipart form, by
//    `imageUrl` (fetched from a local file server, allow-listed), and by `uploadId` (PUT to a
//    bucket beforehand: s3rver on loopback), in the same run against the same API, rounds
//    interleaved; medians of the rounds and the ratios to multipart. The worker runs a tiny model.
// 2. Postgres size per 10,000 jobs (tables jobs + job_inputs with their TOAST and indexes): the
//    inputs in Postgres, then after `moveInputsToBlobs` and VACUUM FULL.
//   pnpm bench reference [--clients 8] [--requests 400] [--rounds 3] [--image 640x480] [--jobs 10000]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDatabase, JobAdmission, moveInputsToBlobs } from '@inferq/db';
import { FileBlobStore, inputBlobKey } from '@inferq/storage';
import { startS3Server } from '@inferq/testing';
import { benchImage } from './lib/benchImage.ts';
import { closedLoop, HttpClient, type MultipartBody } from './lib/loadClient.ts';
import { startPlatform } from './lib/platform.ts';
import { benchUsers } from './lib/platformRun.ts';
import { CpuMeter, machineLoad } from './lib/procStat.ts';
import { startBenchServices } from './lib/services.ts';
import { median, printTable, writeResults } from './lib/stats.ts';
import { createTinyModelRegistry, tinyModelName } from './lib/tinyModel.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    requests: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '3' },
    image: { type: 'string', default: '640x480' },
    jobs: { type: 'string', default: '10000' },
    only: { type: 'string' },
  },
});
const clients = Number(values.clients);
const requests = Number(values.requests);
const rounds = Number(values.rounds);
const jobCount = Number(values.jobs);
const image = await benchImage(values.image!);
const json = (body: unknown): MultipartBody => ({
  body: Buffer.from(JSON.stringify(body)),
  contentType: 'application/json',
});
console.log(
  `submits by reference: ${clients} clients, ${requests} submits a kind a round, ${rounds} rounds, a ${values.image} JPEG of ${image.bytes.byteLength} bytes; ${machineLoad().uptime} (a shared machine: figures are noisy, ratios are of the same run)`,
);

const services = await startBenchServices({});
const modelsDir = await createTinyModelRegistry();
const s3 = await startS3Server();
const files = createServer((_req, res) =>
  res
    .writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(image.bytes.byteLength) })
    .end(image.bytes),
);
await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
const imageUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}/photo.jpg`;
const submitRows: Array<Record<string, string>> = [];
const sizeRows: Array<Record<string, string>> = [];
const figures: Record<string, unknown> = {};
try {
  if (!values.only || values.only === 'submit') {
    const platform = await startPlatform({
      services,
      modelsDir,
      defaultModel: tinyModelName,
      workers: 1,
      queueName: `bench-${randomUUID()}`,
      api: {
        BLOB_STORE_URL: `s3://${s3.bucket}/bench`,
        BLOB_STORE_ENDPOINT: s3.endpoint,
        BLOB_STORE_ACCESS_KEY_ID: s3.accessKeyId,
        BLOB_STORE_SECRET_ACCESS_KEY: s3.secretAccessKey,
        BLOB_STORE_FORCE_PATH_STYLE: 'true',
        INPUT_FETCH_ALLOW_HOSTS: '127.0.0.1',
        MAX_QUEUED_JOBS: '1000000',
      },
      worker: {
        BLOB_STORE_URL: `s3://${s3.bucket}/bench`,
        BLOB_STORE_ENDPOINT: s3.endpoint,
        BLOB_STORE_ACCESS_KEY_ID: s3.accessKeyId,
        BLOB_STORE_SECRET_ACCESS_KEY: s3.secretAccessKey,
        BLOB_STORE_FORCE_PATH_STYLE: 'true',
      },
    });
    const users = await benchUsers(services, clients);
    const http = new HttpClient(platform.api.url, { connections: clients * 2 });
    try {
      /** Uploads PUT to the bucket before a round, one per submit: only the submit is measured. */
      const uploads = async (count: number) =>
        Promise.all(
          Array.from({ length: count }, async (_, i) => {
            const user = users[i % clients]!;
            const made = await http.request<{ uploadId: string; url: string; headers: Record<string, string> }>(
              'POST',
              '/v1/uploads',
              { body: json({ contentType: 'image/jpeg', size: image.bytes.byteLength }), headers: user.headers },
            );
            const put = await fetch(made.body.url, {
              method: 'PUT',
              headers: made.body.headers,
              body: new Uint8Array(image.bytes),
            });
            if (!put.ok) throw new Error(`PUT to the bucket answered ${put.status}`);
            return made.body.uploadId;
          }),
        );
      const kinds = ['multipart', 'imageUrl', 'uploadId'] as const;
      const measured: Record<
        string,
        { cpuMsPerJob: number[]; jobsPerSecond: number[]; statuses: Record<string, number> }
      > = Object.fromEntries(kinds.map((kind) => [kind, { cpuMsPerJob: [], jobsPerSecond: [], statuses: {} }]));
      for (let round = -1; round < rounds; round++) {
        // Round -1 warms every path up and is not counted.
        const count = round < 0 ? clients * 10 : requests;
        for (const kind of kinds) {
          const ids = kind === 'uploadId' ? await uploads(count) : [];
          const body = (i: number) =>
            kind === 'multipart' ? image.upload : kind === 'imageUrl' ? json({ imageUrl }) : json({ uploadId: ids[i] });
          const statuses = measured[kind]!.statuses;
          let next = 0;
          const meter = new CpuMeter();
          meter.start([platform.api.pid]);
          const wallMs = await closedLoop({
            clients,
            jobs: count,
            task: async (client) => {
              const index = next++;
              // An upload belongs to the user who made it: index i was made by user i % clients.
              const answer = await http.request('POST', '/v1/jobs', {
                body: body(index),
                headers: users[kind === 'uploadId' ? index % clients : client]!.headers,
              });
              if (round >= 0) statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
            },
          });
          const cpu = meter.since([platform.api.pid]);
          if (round >= 0) {
            measured[kind]!.cpuMsPerJob.push(cpu / count);
            measured[kind]!.jobsPerSecond.push(count / (wallMs / 1000));
          }
        }
      }
      const base = measured.multipart!;
      for (const kind of kinds) {
        const m = measured[kind]!;
        submitRows.push({
          submit: kind,
          'API CPU ms/job (median)': median(m.cpuMsPerJob).toFixed(2),
          'jobs/s (median)': median(m.jobsPerSecond).toFixed(0),
          'CPU vs multipart': (median(m.cpuMsPerJob) / median(base.cpuMsPerJob)).toFixed(2),
          'jobs/s vs multipart': (median(m.jobsPerSecond) / median(base.jobsPerSecond)).toFixed(2),
          statuses: JSON.stringify(m.statuses),
        });
      }
      figures.submits = measured;
    } finally {
      await http.close();
      await platform.stop();
    }
  }

  if (!values.only || values.only === 'size') {
    // Sizes on a database of their own: only these jobs in it.
    const admin = new pg.Client({ connectionString: services.databaseUrl });
    await admin.connect();
    const [user] = await benchUsers(services, 1);
    const db = createDatabase({ url: services.databaseUrl, poolSize: 4 });
    const folder = mkdtempSync(path.join(tmpdir(), 'inferq-bench-blobs-'));
    try {
      await admin.query('TRUNCATE jobs CASCADE');
      const admission = new JobAdmission(db);
      for (let start = 0; start < jobCount; start += 100) {
        const group = Array.from({ length: Math.min(100, jobCount - start) }, () => ({
          job: {
            id: randomUUID(),
            userId: user!.userId,
            modelName: tinyModelName,
            input: { data: image.bytes, format: 'jpeg', width: image.width, height: image.height, sha256: 'bench' },
          },
          limit: { maxInFlight: Number.MAX_SAFE_INTEGER },
        }));
        await admission.admitMany(group);
      }
      const size = async () => {
        await admin.query('VACUUM FULL jobs, job_inputs');
        const { rows } = await admin.query<{ bytes: string }>(
          "SELECT (pg_total_relation_size('jobs') + pg_total_relation_size('job_inputs'))::text AS bytes",
        );
        return Number(rows[0]!.bytes) * (10_000 / jobCount);
      };
      const before = await size();
      const started = performance.now();
      const { moved } = await moveInputsToBlobs(db, new FileBlobStore(folder), { keyOf: inputBlobKey, batchSize: 200 });
      const moveMs = performance.now() - started;
      const after = await size();
      const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(1);
      sizeRows.push(
        { inputs: 'in Postgres', 'MiB per 10,000 jobs': mib(before), 'vs in Postgres': '1.00' },
        {
          inputs: 'in the blob store (after move-inputs, VACUUM FULL)',
          'MiB per 10,000 jobs': mib(after),
          'vs in Postgres': (after / before).toFixed(3),
        },
      );
      figures.size = {
        jobs: jobCount,
        imageBytes: image.bytes.byteLength,
        beforeBytesPer10k: before,
        afterBytesPer10k: after,
        moved,
        moveMs,
      };
      console.log(`moved ${moved} inputs to a filesystem store in ${(moveMs / 1000).toFixed(1)} s`);
    } finally {
      await db.$disconnect();
      await admin.end();
      rmSync(folder, { recursive: true, force: true });
    }
  }
} finally {
  await new Promise((resolve) => files.close(resolve));
  await s3.stop();
  await services.stop();
  rmSync(modelsDir, { recursive: true, force: true });
}
if (submitRows.length > 0) printTable(submitRows);
if (sizeRows.length > 0) printTable(sizeRows);
console.log(`wrote ${writeResults('reference', { clients, requests, rounds, image: values.image, figures })}`);
