export * from './tracing.ts';
export { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
