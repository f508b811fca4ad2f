import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  isSpanContextValid,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';

/**
 * Terminology: a trace is one job's path through the platform (submit in the API, then the
 * worker's attempt); a span is one step of it (admission, enqueue, start, batch, result write).
 * The queue is an asynchronous hop, so the context crosses it inside the job payload as a W3C
 * `traceparent` (TraceCarrier), not through a context manager or headers.
 */
export interface TracingOptions {
  /** `service.name` of every span. */
  serviceName: string;
  /**
   * OTLP/HTTP endpoint of a collector (`http://collector:4318`; spans go to `<endpoint>/v1/traces`
   * as JSON). @defaultValue none: tracing is off
   */
  otlpEndpoint?: string;
  /** Where spans go instead of OTLP (tests: the SDK's InMemorySpanExporter); turns tracing on. @defaultValue none */
  exporter?: SpanExporter;
  /** Batch spans before export (OTLP) or export each one as it ends (a test's exporter). @defaultValue true with OTLP, false with `exporter` */
  batch?: boolean;
}

/** The trace context as it travels in a job payload. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

export interface Tracing {
  /** false: every span is a no-op and no context is carried (nothing is allocated for export). */
  readonly enabled: boolean;
  readonly tracer: Tracer;
  /**
   * Starts a span under `parent` (a context from a carrier, or a span's), linked to the spans
   * `links` carry (a batch to the jobs it served, each in its own trace; a malformed one is left
   * out). @defaultValue parent: a new trace; links: none
   */
  startSpan(
    name: string,
    options?: {
      parent?: Context | Span | undefined;
      attributes?: Attributes;
      kind?: SpanKind;
      links?: readonly TraceCarrier[];
    },
  ): Span;
  /** Runs `work` in a span that ends when it settles; an error marks the span and is thrown again. */
  inSpan<T>(
    name: string,
    options: { parent?: Context | Span | undefined; attributes?: Attributes },
    work: (span: Span) => Promise<T>,
  ): Promise<T>;
  /** The context to carry in a job payload; undefined when off or when the span is not sampled. */
  carrier(span: Span): TraceCarrier | undefined;
  /** The context a carried `traceparent` stands for; a new trace when there is none. */
  contextOf(carrier: TraceCarrier | undefined): Context;
  /** Sends what has ended so far. */
  flush(): Promise<void>;
  /** Sends what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
const setter = { set: (carrier: Record<string, string>, key: string, value: string) => void (carrier[key] = value) };
const getter = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};

function parentContext(parent: Context | Span | undefined): Context {
  if (!parent) return ROOT_CONTEXT;
  return 'spanContext' in parent ? trace.setSpan(ROOT_CONTEXT, parent) : parent;
}

/**
 * Tracing for one process. Off unless an OTLP endpoint or an exporter is given; off, the tracer
 * is the API's no-op one, no provider or exporter exists, and `carrier` returns undefined, so jobs
 * carry nothing either. Nothing is registered globally, so several in one test process never mix.
 */
export function createTracing(options: TracingOptions): Tracing {
  const exporter =
    options.exporter ??
    (options.otlpEndpoint
      ? new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/+$/, '')}/v1/traces` })
      : undefined);
  if (!exporter) return disabledTracing;
  const batch = options.batch ?? options.exporter === undefined;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [
      batch ? new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1000 }) : new SimpleSpanProcessor({ exporter }),
    ],
  });
  const tracer = provider.getTracer('inferq');
  const linksTo = (carriers: readonly TraceCarrier[]): Link[] =>
    carriers.flatMap((carrier) => {
      const context = trace.getSpanContext(
        propagator.extract(ROOT_CONTEXT, { ...carrier } as Record<string, string>, getter),
      );
      return context && isSpanContextValid(context) ? [{ context }] : [];
    });
  return {
    enabled: true,
    tracer,
    startSpan: (name, spanOptions = {}) =>
      tracer.startSpan(
        name,
        {
          kind: spanOptions.kind ?? SpanKind.INTERNAL,
          ...(spanOptions.attributes ? { attributes: spanOptions.attributes } : {}),
          ...(spanOptions.links ? { links: linksTo(spanOptions.links) } : {}),
        },
        parentContext(spanOptions.parent),
      ),
    inSpan: (name, spanOptions, work) =>
      runInSpan(
        tracer.startSpan(
          name,
          spanOptions.attributes ? { attributes: spanOptions.attributes } : {},
          parentContext(spanOptions.parent),
        ),
        work,
      ),
    carrier(span) {
      if (!span.isRecording()) return undefined;
      const carrier: Record<string, string> = {};
      propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, setter);
      return carrier.traceparent
        ? { traceparent: carrier.traceparent, ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}) }
        : undefined;
    },
    contextOf(carrier) {
      if (!carrier) return ROOT_CONTEXT;
      return propagator.extract(ROOT_CONTEXT, { ...carrier } as Record<string, string>, getter);
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

async function runInSpan<T>(span: Span, work: (span: Span) => Promise<T>): Promise<T> {
  try {
    return await work(span);
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

const noopTracer = trace.getTracerProvider().getTracer('inferq-disabled');
// One non-recording span, shared: starting a span when tracing is off allocates nothing.
const noopSpan = trace.wrapSpanContext({
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  traceFlags: 0,
});

/** Tracing that is off. */
export const disabledTracing: Tracing = {
  enabled: false,
  tracer: noopTracer,
  startSpan: () => noopSpan,
  inSpan: (_name, _options, work) => work(noopSpan),
  carrier: () => undefined,
  contextOf: () => ROOT_CONTEXT,
  flush: async () => {},
  shutdown: async () => {},
};

export { SpanKind, SpanStatusCode, type Context, type Span };
