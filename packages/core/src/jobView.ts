import type { JobStatus } from './types.ts';
import { webhookEventFilters, type JobView, type WebhookEventFilter } from './wire.ts';

/** The fields of a stored job that its public view is made of (a `JobRecord` of @inferq/db has them). */
export interface JobViewSource {
  id: string;
  status: JobStatus;
  modelName: string;
  modelVersion: string | null;
  /** The engine that produced the result (rows from before engines were recorded have none). */
  engine?: string | null;
  requestedVersion: string | null;
  inputFormat: string;
  inputWidth: number;
  inputHeight: number;
  inputBytes: number;
  inputFileName: string | null;
  /** The client's metadata (a JSON object of strings); null or absent when none was given. */
  metadata?: unknown;
  attempts: number;
  errorCode: string | null;
  errorMessage: string | null;
  webhookUrl: string | null;
  webhookEvents: string[];
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  expiresAt: Date | null;
  queueWaitMs: number | null;
  inferenceMs: number | null;
  heldMs: number | null;
  /** When the job must have started by (its ttl); rows from before deadlines have none. */
  startBy?: Date | null;
  /** The execution deadline of an attempt, in ms (Cancel-After). */
  cancelAfterMs?: number | null;
  result: { output: unknown; labels: unknown } | null;
}

/** The events a job's webhook is sent, in their order; `completed` for rows from before the filter. */
export function webhookEventsOf(job: { webhookEvents: readonly string[] | null }): WebhookEventFilter[] {
  const events = webhookEventFilters.filter((event) => job.webhookEvents?.includes(event));
  return events.length > 0 ? events : ['completed'];
}

/** The stored metadata as the view's object: `{}` when there is none. */
function metadataOf(stored: unknown): Record<string, string> {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return {};
  return Object.fromEntries(
    Object.entries(stored).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

/** A stored result: an image model's output vectors, or a tensor model's `{ outputs, reading }`. */
function resultView(output: unknown, labels: unknown): NonNullable<JobView['result']> {
  const top = Array.isArray(labels) ? (labels as Array<{ label: string; score: number }>) : null;
  if (
    typeof output === 'object' &&
    output !== null &&
    !Array.isArray(output) &&
    Array.isArray((output as { outputs?: unknown }).outputs)
  ) {
    const tensor = output as {
      outputs: Array<{ name: string; datatype: string; shape: number[]; data: Array<number | boolean> }>;
      reading?: NonNullable<JobView['result']>['reading'];
    };
    return {
      output: tensor.outputs.map((entry) => entry.data.map(Number)),
      top,
      outputs: tensor.outputs,
      reading: tensor.reading ?? { kind: 'raw' },
    };
  }
  return { output: output as number[][], top, outputs: null, reading: null };
}

function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

/**
 * The public representation of a job: what `GET /v1/jobs/:id` answers and what a webhook POSTs,
 * so both always carry the same body.
 */
export function toJobView(job: JobViewSource): JobView {
  const labels = job.result?.labels;
  const self = `/v1/jobs/${job.id}`;
  return {
    id: job.id,
    status: job.status,
    model: {
      name: job.modelName,
      version: job.modelVersion,
      engine: job.engine ?? null,
      requestedVersion: job.requestedVersion,
    },
    input: {
      format: job.inputFormat,
      width: job.inputWidth,
      height: job.inputHeight,
      bytes: job.inputBytes,
      fileName: job.inputFileName,
    },
    metadata: metadataOf(job.metadata),
    attempts: job.attempts,
    result: job.result ? resultView(job.result.output, labels) : null,
    error:
      job.errorCode && (job.status === 'failed' || job.status === 'expired')
        ? { code: job.errorCode, message: job.errorMessage ?? '' }
        : null,
    createdAt: job.createdAt.toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    expiresAt: iso(job.expiresAt),
    timings: {
      queueWaitMs: job.queueWaitMs,
      heldMs: job.heldMs,
      inferenceMs: job.inferenceMs,
      totalMs: job.finishedAt ? job.finishedAt.getTime() - job.createdAt.getTime() : null,
    },
    links: { self },
    // Known only to the API, which reads the live workers (JobReads.queueStatus); a final job never waits.
    waitingFor: null,
    // Read from the queue by the API (JobReads.queueStatus); never in a webhook body.
    queuePosition: null,
    etaSeconds: null,
    deadlines: {
      startBy: iso(job.startBy ?? null),
      cancelAfterSeconds: job.cancelAfterMs == null ? null : job.cancelAfterMs / 1000,
    },
    webhook: job.webhookUrl
      ? { url: job.webhookUrl, events: webhookEventsOf(job), deliveries: `${self}/deliveries` }
      : null,
  };
}
