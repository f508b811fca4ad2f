import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photoLikeImage } from '@inferq/images/testing';
import { OtlpReceiver, type PlatformProcess, type ReceivedSpan } from '@inferq/testing';
import {
  createTestUser,
  platformEnv,
  type Caller,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  waitForFinal,
} from './platform.ts';

/** The spans of one job's trace, from the API's submit to the worker's result write. */
const expectedSpans = ['submit', 'admission', 'enqueue', 'attempt', 'start', 'batch', 'result write'];

describe('tracing across the queue, with real processes', () => {
  const receiver = new OtlpReceiver();
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let caller: Caller;

  beforeAll(async () => {
    const endpoint = await receiver.start();
    const env = platformEnv({ extra: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } });
    // Batches of 3 that wait up to 1 s to fill: three jobs submitted together run in one batch.
    const started = await Promise.all([
      startApiProcess(env),
      startWorkerProcess({
        ...env,
        extra: { ...env.extra, MAX_BATCH_SIZE: '3', MAX_BATCH_DELAY_MS: '1000' },
        workerId: 'e2e-tracing',
      }),
    ]);
    api = started[0].process;
    worker = started[1].process;
    caller = { baseUrl: started[0].baseUrl, user: await createTestUser(env.databaseUrl) };
  });
  afterAll(async () => {
    await stopAll([api, worker]);
    await receiver.stop();
  });

  it('gives one job one connected trace: submit → enqueue → attempt → result write, admission, start and batch on the way', async () => {
    const submitted = await submit(caller, await photoLikeImage(320, 240, 'png'));
    expect((await waitForFinal(caller, submitted.id)).status).toBe('succeeded');

    // The worker's spans are batched for export (about a second): wait until they have come.
    const jobSpans = () => {
      const enqueue = receiver.spans.find(
        (span) => span.name === 'enqueue' && span.attributes['inferq.job_id'] === submitted.id,
      );
      return enqueue ? receiver.spans.filter((span) => span.traceId === enqueue.traceId) : [];
    };
    for (
      let tries = 0;
      tries < 200 && !expectedSpans.every((name) => jobSpans().some((span) => span.name === name));
      tries++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const spans = jobSpans();
    expect(spans.map((span) => span.name).sort()).toEqual([...expectedSpans].sort());
    const byName = Object.fromEntries(spans.map((span) => [span.name, span])) as Record<string, ReceivedSpan>;
    const parentOf = (name: string) => spans.find((span) => span.spanId === byName[name]!.parentSpanId)?.name;

    expect(byName.submit!.parentSpanId).toBe('');
    expect(parentOf('admission')).toBe('submit');
    expect(parentOf('enqueue')).toBe('submit');
    // The context crossed the queue in the job's payload.
    expect(parentOf('attempt')).toBe('enqueue');
    expect(parentOf('start')).toBe('attempt');
    expect(parentOf('batch')).toBe('attempt');
    expect(parentOf('result write')).toBe('attempt');
    expect(byName.submit!.service).toBe('inferq-api');
    expect(byName['result write']!.service).toBe('inferq-worker');
    expect(byName.attempt!.attributes['inferq.job_id']).toBe(submitted.id);
    expect(byName.batch!.attributes['inferq.batch_size']).toBe(1);
    // Its batch links to the one job it served: that job's attempt.
    expect(byName.batch!.links).toEqual([{ traceId: byName.attempt!.traceId, spanId: byName.attempt!.spanId }]);
  });

  it('links the batch span of jobs that ran in one batch to the attempt of each, each in its own trace', async () => {
    const image = await photoLikeImage(320, 240, 'png');
    const jobs = await Promise.all([0, 1, 2].map(() => submit(caller, image)));
    for (const job of jobs) expect((await waitForFinal(caller, job.id)).status).toBe('succeeded');

    const spansOf = (jobId: string) => {
      const attempt = receiver.spans.find(
        (span) => span.name === 'attempt' && span.attributes['inferq.job_id'] === jobId,
      );
      const batch =
        attempt && receiver.spans.find((span) => span.name === 'batch' && span.parentSpanId === attempt.spanId);
      return attempt && batch ? { attempt, batch } : undefined;
    };
    for (let tries = 0; tries < 200 && !jobs.every((job) => spansOf(job.id)); tries++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    const traced = jobs.map((job) => spansOf(job.id)!);
    expect(new Set(traced.map(({ attempt }) => attempt.traceId)).size).toBe(3);
    const attempts = traced.map(({ attempt }) => ({ traceId: attempt.traceId, spanId: attempt.spanId }));
    const bySpan = (a: { spanId: string }, b: { spanId: string }) => a.spanId.localeCompare(b.spanId);
    for (const { batch } of traced) {
      expect(batch.attributes['inferq.batch_size']).toBe(3);
      expect([...batch.links].sort(bySpan)).toEqual([...attempts].sort(bySpan));
    }
  });
});
