import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photoLikeImage } from '@inferq/images/testing';
import { OtlpReceiver, type PlatformProcess, type ReceivedSpan } from '@inferq/testing';
import { createTestUser, platformEnv, type Caller, startApiProcess, startWorkerProcess, stopAll, submit, waitForFinal } from './platform.ts';

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
    const started = await Promise.all([startApiProcess(env), startWorkerProcess({ ...env, workerId: 'e2e-tracing' })]);
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
      const enqueue = receiver.spans.find((span) => span.name === 'enqueue' && span.attributes['inferq.job_id'] === submitted.id);
      return enqueue ? receiver.spans.filter((span) => span.traceId === enqueue.traceId) : [];
    };
    for (let tries = 0; tries < 200 && !expectedSpans.every((name) => jobSpans().some((span) => span.name === name)); tries++) {
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
  });
});
