import type { JobView } from '@inferq/core';
import type { JobRecord } from '@inferq/db';

function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

/** The public representation of a job. */
export function toJobView(job: JobRecord): JobView {
  const labels = job.result?.labels;
  return {
    id: job.id,
    status: job.status,
    model: { name: job.modelName, version: job.modelVersion, requestedVersion: job.requestedVersion },
    input: { format: job.inputFormat, width: job.inputWidth, height: job.inputHeight, bytes: job.inputBytes },
    attempts: job.attempts,
    result: job.result
      ? {
          output: job.result.output as number[][],
          top: Array.isArray(labels) ? (labels as Array<{ label: string; score: number }>) : null,
        }
      : null,
    error: job.errorCode && job.status === 'failed' ? { code: job.errorCode, message: job.errorMessage ?? '' } : null,
    createdAt: job.createdAt.toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    timings: {
      queueWaitMs: job.queueWaitMs,
      inferenceMs: job.inferenceMs,
      totalMs: job.finishedAt ? job.finishedAt.getTime() - job.createdAt.getTime() : null,
    },
    links: { self: `/v1/jobs/${job.id}` },
  };
}
