import { describe, expect, it } from 'vitest';
import { SpanStatusCode } from '@opentelemetry/api';
import { OtlpReceiver } from '@inferq/testing';
import { createTracing, disabledTracing, InMemorySpanExporter } from './index.ts';

describe('tracing', () => {
  it('carries a span across the queue as a traceparent: the far side continues the same trace', async () => {
    const exporter = new InMemorySpanExporter();
    const api = createTracing({ serviceName: 'api', exporter });
    const worker = createTracing({ serviceName: 'worker', exporter });
    const submit = api.startSpan('submit');
    const carrier = api.carrier(submit);
    expect(carrier?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    submit.end();
    // As a payload travels: JSON through Redis.
    const carried = JSON.parse(JSON.stringify(carrier));
    await worker.inSpan('attempt', { parent: worker.contextOf(carried) }, async (attempt) => {
      worker.startSpan('batch', { parent: attempt }).end();
    });
    await Promise.all([api.flush(), worker.flush()]);
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).toEqual(['submit', 'batch', 'attempt']);
    const byName = Object.fromEntries(spans.map((span) => [span.name, span]));
    expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
    expect(byName.submit!.parentSpanContext).toBeUndefined();
    expect(byName.attempt!.parentSpanContext?.spanId).toBe(byName.submit!.spanContext().spanId);
    expect(byName.batch!.parentSpanContext?.spanId).toBe(byName.attempt!.spanContext().spanId);
    expect(byName.attempt!.resource.attributes['service.name']).toBe('worker');
    await Promise.all([api.shutdown(), worker.shutdown()]);
  });

  it('links a span to the spans carriers stand for, each in its own trace, and leaves out a malformed one', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ serviceName: 'worker', exporter });
    const jobs = [tracing.startSpan('attempt'), tracing.startSpan('attempt')];
    const carriers = jobs.map((span) => tracing.carrier(span)!);
    const batch = tracing.startSpan('batch', {
      parent: jobs[0],
      links: [...carriers, { traceparent: 'not-a-traceparent' }],
    });
    batch.end();
    for (const span of jobs) span.end();
    await tracing.flush();
    const ended = exporter.getFinishedSpans().find((span) => span.name === 'batch')!;
    expect(ended.links.map((link) => link.context.spanId)).toEqual(jobs.map((span) => span.spanContext().spanId));
    expect(ended.links.map((link) => link.context.traceId)).toEqual(jobs.map((span) => span.spanContext().traceId));
    expect(new Set(jobs.map((span) => span.spanContext().traceId)).size).toBe(2);
    await tracing.shutdown();
  });

  it('marks a span whose work throws, and throws again', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ serviceName: 'test', exporter });
    await expect(
      tracing.inSpan('write', {}, async () => Promise.reject(new Error('DATABASE_UNAVAILABLE'))),
    ).rejects.toThrow('DATABASE_UNAVAILABLE');
    await tracing.flush();
    const [span] = exporter.getFinishedSpans();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    await tracing.shutdown();
  });

  it('is off without an endpoint or exporter: spans do not record and jobs carry nothing', async () => {
    const tracing = createTracing({ serviceName: 'api' });
    expect(tracing).toBe(disabledTracing);
    const span = tracing.startSpan('submit');
    expect(span.isRecording()).toBe(false);
    expect(tracing.carrier(span)).toBeUndefined();
    expect(await tracing.inSpan('x', {}, async () => 42)).toBe(42);
  });

  it('drops a malformed traceparent and starts a new trace', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ serviceName: 'worker', exporter });
    const span = tracing.startSpan('attempt', { parent: tracing.contextOf({ traceparent: 'not-a-traceparent' }) });
    span.end();
    await tracing.flush();
    expect(exporter.getFinishedSpans()[0]!.parentSpanContext).toBeUndefined();
  });
});

describe('OTLP export', () => {
  it('sends spans as OTLP/HTTP JSON to the configured endpoint', async () => {
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.start();
    try {
      const tracing = createTracing({ serviceName: 'inferq-api', otlpEndpoint: endpoint });
      const submit = tracing.startSpan('submit', { attributes: { 'inferq.model': 'nsfw' } });
      tracing.startSpan('enqueue', { parent: submit, links: [tracing.carrier(submit)!] }).end();
      submit.end();
      await tracing.shutdown();
      expect(receiver.spans.map((span) => span.name).sort()).toEqual(['enqueue', 'submit']);
      const root = receiver.spans.find((span) => span.name === 'submit')!;
      const child = receiver.spans.find((span) => span.name === 'enqueue')!;
      expect(root.service).toBe('inferq-api');
      expect(root.attributes['inferq.model']).toBe('nsfw');
      expect(child.traceId).toBe(root.traceId);
      expect(child.parentSpanId).toBe(root.spanId);
      expect(child.links).toEqual([{ traceId: root.traceId, spanId: root.spanId }]);
    } finally {
      await receiver.stop();
    }
  });
});
