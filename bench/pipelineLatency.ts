// Per-image worker latency and end-to-end latency of one job at a time (submit → succeeded),
// against a real API process, one worker process, Postgres and Redis on this machine.
//   DATABASE_URL=… REDIS_URL=… pnpm bench pipeline [--jobs 20]
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { drawingImage } from '@inferq/images/testing';
import { createTestUser, repoRoot, startApiProcess, startTestServices, startWorkerProcess } from '@inferq/testing';
import { formatMs, median, printTable, quantile, writeResults } from './lib/stats.ts';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '20' } } });
const jobCount = Number(values.jobs);

const services = await startTestServices();
const env = {
  databaseUrl: services.databaseUrl,
  redisUrl: services.redisUrl,
  queuePrefix: services.queuePrefix,
  modelsDir: path.join(repoRoot, 'models'),
  queueName: `bench-${randomUUID()}`,
  extra: { MAX_BATCH_SIZE: '1' },
};
const [api, worker] = await Promise.all([startApiProcess(env), startWorkerProcess(env)]);
const user = await createTestUser(services.databaseUrl);
const image = await sharp(await drawingImage(640, 480))
  .jpeg({ quality: 90 })
  .toBuffer();

try {
  const endToEnd: number[] = [];
  const submitAnswer: number[] = [];
  const inference: number[] = [];
  const queueWait: number[] = [];
  for (let i = 0; i < jobCount + 2; i++) {
    const form = new FormData();
    form.set('image', new Blob([new Uint8Array(image)]), 'bench.jpg');
    const started = performance.now();
    const response = await fetch(`${api.baseUrl}/v1/jobs`, { method: 'POST', headers: user.headers, body: form });
    const answered = performance.now();
    if (response.status !== 202) throw new Error(`submit answered ${response.status}`);
    const { id } = (await response.json()) as { id: string };
    let job: { status: string; timings: { inferenceMs: number; queueWaitMs: number } };
    for (;;) {
      job = (await (await fetch(`${api.baseUrl}/v1/jobs/${id}`, { headers: user.headers })).json()) as typeof job;
      if (job.status === 'succeeded' || job.status === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const done = performance.now();
    if (job.status !== 'succeeded') throw new Error(`job ${id} ${job.status}`);
    if (i < 2) continue; // warm-up rounds: first connections, JIT
    endToEnd.push(done - started);
    submitAnswer.push(answered - started);
    inference.push(job.timings.inferenceMs);
    queueWait.push(job.timings.queueWaitMs);
  }
  const row = (name: string, sample: number[]) => ({
    measure: name,
    p50: formatMs(median(sample)),
    p90: formatMs(quantile(sample, 0.9)),
    max: formatMs(Math.max(...sample)),
  });
  console.log(`\n${jobCount} jobs one at a time, 640×480 JPEG, model nsfw, wasm backend, batch size 1\n`);
  printTable([
    row('submit answer (202)', submitAnswer),
    row('queue wait (row)', queueWait),
    row('worker inference per image', inference),
    row('end to end (submit → succeeded seen)', endToEnd),
  ]);
  const file = writeResults('pipeline', { jobs: jobCount, endToEnd, submitAnswer, inference, queueWait });
  console.log(`\nwrote ${file}`);
} finally {
  await Promise.all([api.process.stop(), worker.process.stop()]);
  await services.stop();
}
