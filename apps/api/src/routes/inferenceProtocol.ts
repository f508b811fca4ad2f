import express, { Router, type ErrorRequestHandler, type Request, type Response } from 'express';
import type { FairQueue } from '@inferq/admission';
import { tierOf, type TierTable } from '@inferq/accounts';
import { AppError, isFinalStatus, maxWaitSeconds, type ErrorCode } from '@inferq/core';
import type { JobRecord } from '@inferq/db';
import type { JobReads, JobSubmission, SubmitTensorsResult } from '@inferq/jobs';
import { encodeInferResponse, isTensorResult, splitInferBody } from '@inferq/tensors';
import { principalOf } from '../http/authenticate.ts';
import { toAppError } from '../http/errorHandler.ts';
import { metricsOf } from '../http/httpMetrics.ts';
import { preferredWait } from '../http/prefer.ts';
import { releaseSubmitSlot, type SubmitSlots } from '../http/submitSlots.ts';
import { payloadTooLarge } from '../http/upload.ts';
import { releaseUploadMemory, reserveUploadMemory } from '../http/uploadMemory.ts';
import type { ReadinessCheck } from '../health.ts';
import { toJobView } from '../jobView.ts';
import type { ModelService } from '../modelService.ts';

/**
 * The Open Inference Protocol (KServe v2) REST surface. Every inference is a job in the queue, as
 * a `POST /v1/jobs` is: the same keys, rate limits, quotas, fairness, priorities, webhooks and
 * idempotency keys. By default `infer` waits for its result (at most `maxWaitSeconds`, or what
 * `Prefer: wait=N` asks) and answers in the protocol's shape, as any v2 server; with
 * `Prefer: respond-async` it answers `202` and `Location: /v1/jobs/{id}` at once. Errors are the
 * protocol's `{ "error": "…" }`, with the platform's stable `code` beside it.
 */
export const serverMetadata = {
  name: 'inferq',
  version: '0.1.0',
  extensions: ['binary_tensor_data', 'respond_async'],
} as const;

/** The public part: server metadata and health, for probes and clients that have no key. */
export function inferenceProtocolHealthRouter(readiness: ReadinessCheck[]): Router {
  const router = Router();
  router.get('/v2', (_req, res) => {
    res.json(serverMetadata);
  });
  router.get('/v2/health/live', (_req, res) => {
    res.status(200).end();
  });
  // The protocol's health answers are the status alone: 200 true, a 4xx false.
  router.get('/v2/health/ready', async (_req, res) => {
    const results = await Promise.all(readiness.map(({ check }) => check().catch(() => false)));
    res.status(results.every(Boolean) ? 200 : 400).end();
  });
  return router;
}

export interface InferenceProtocolRouterOptions {
  /** Largest request body (MAX_UPLOAD_BYTES); a tier's upload limit bounds the tensors stored. */
  maxBodyBytes: number;
  tiers: TierTable;
  slots: SubmitSlots;
  uploadBytes: FairQueue;
}

/** `/v2/models/…`: metadata, readiness and inference, behind the API key (mounted after authenticate). */
export function inferenceProtocolRouter(
  jobs: { submission: JobSubmission; reads: JobReads },
  models: ModelService | undefined,
  options: InferenceProtocolRouterOptions,
): Router {
  const { submission, reads } = jobs;
  const router = Router();
  const weightOf = (req: Request) => tierOf(principalOf(req).tier, options.tiers).shareWeight;
  const modelsOrThrow = () => {
    if (!models) throw new AppError('MODEL_NOT_FOUND', 'This API serves no model registry.');
    return models;
  };
  const params = (req: Request) => req.params as Record<string, string | undefined>;
  const name = (req: Request) => String(params(req).name);
  const version = (req: Request) => params(req).version;

  for (const base of ['/models/:name', '/models/:name/versions/:version']) {
    router.get(base, async function getModelMetadata(req, res) {
      res.json(await modelsOrThrow().metadata(name(req), version(req)));
    });
    router.get(`${base}/ready`, async function getModelReady(req, res) {
      res.status((await modelsOrThrow().ready(name(req), version(req))) ? 200 : 400).end();
    });
    router.post(
      `${base}/infer`,
      reserveUploadMemory(options.uploadBytes, () => options.maxBodyBytes, payloadTooLarge, weightOf),
      express.raw({ type: () => true, limit: options.maxBodyBytes }),
      options.slots.acquire,
      async function inferTensors(req, res) {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const { header, binary } = splitInferBody(body, headerLengthOf(req));
        const parameters = (header as { parameters?: Record<string, unknown> } | null)?.parameters ?? {};
        let result: SubmitTensorsResult;
        try {
          result = await submission.submitTensors({
            principal: principalOf(req),
            model: name(req),
            modelVersion: version(req),
            idempotencyKey: req.get('idempotency-key'),
            webhook: typeof parameters.webhook === 'string' ? parameters.webhook : undefined,
            webhookEvents: typeof parameters.webhook_events === 'string' ? parameters.webhook_events : undefined,
            header,
            binary,
          });
        } finally {
          releaseSubmitSlot(res);
          releaseUploadMemory(req, res);
        }
        if (!result.replayed) metricsOf(req)?.jobsSubmitted.inc({ model: result.job.modelName });
        req.log?.setBindings?.({ jobId: result.job.id });
        const prefer = req.get('prefer') ?? '';
        if (/(^|,)\s*respond-async\s*(;|,|$)/i.test(prefer)) {
          res.set('Preference-Applied', 'respond-async');
          sendAccepted(res, result.job);
          return;
        }
        const seconds = Math.min(preferredWait(prefer) ?? maxWaitSeconds, maxWaitSeconds);
        let latest = result.job;
        if (!isFinalStatus(latest.status) && seconds > 0) {
          const outcome = await reads.waitFor(principalOf(req), latest.id, {
            timeoutMs: seconds * 1000,
            signal: clientGone(res),
          });
          if (!outcome.job) return; // the client went away
          latest = outcome.job;
        }
        sendOutcome(res, latest, result);
      },
    );
  }
  router.use(inferenceProtocolErrors);
  return router;
}

/** `Inference-Header-Content-Length`: the JSON header's length when binary tensors follow it. */
function headerLengthOf(req: Request): number | undefined {
  const raw = req.get('inference-header-content-length');
  if (raw === undefined) return undefined;
  if (!/^\d{1,12}$/.test(raw.trim()))
    throw new AppError('INVALID_TENSOR', 'Inference-Header-Content-Length must be a whole number of bytes.');
  return Number(raw.trim());
}

/** 202 with where the job is: the answer when asked to respond asynchronously, or when the wait ran out. */
function sendAccepted(res: Response, job: JobRecord): void {
  const view = toJobView(job);
  res.status(202).location(view.links.self).json(view);
}

/** The finished job in the protocol's shape, or its failure as a protocol error. */
function sendOutcome(res: Response, job: JobRecord, submitted: SubmitTensorsResult): void {
  if (!isFinalStatus(job.status)) {
    sendAccepted(res, job);
    return;
  }
  res.set('Content-Location', `/v1/jobs/${job.id}`);
  if (job.status === 'failed')
    throw new AppError((job.errorCode ?? 'INTERNAL') as ErrorCode, job.errorMessage ?? 'The inference failed.', {
      details: { jobId: job.id },
    });
  if (job.status === 'canceled')
    throw new AppError('JOB_FINISHED', 'The job was canceled before it finished.', { details: { jobId: job.id } });
  const stored = job.result?.output;
  if (!isTensorResult(stored)) throw new AppError('INTERNAL', 'The job has no tensor result.');
  const { request } = submitted;
  const encoded = encodeInferResponse(
    {
      modelName: job.modelName,
      modelVersion: job.modelVersion ?? '',
      ...(request.id !== undefined ? { id: request.id } : {}),
    },
    stored.outputs,
    request.outputs,
    request.binaryOutputs,
  );
  if (encoded.headerLength !== undefined) res.set('Inference-Header-Content-Length', String(encoded.headerLength));
  res.status(200).type(encoded.contentType).send(encoded.body);
}

function clientGone(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * Errors in the protocol's shape, `{ "error": "…" }`, with the platform's code beside it (clients
 * match `code`); the status is the code's (packages/core/src/errors.ts).
 */
export const inferenceProtocolErrors: ErrorRequestHandler = (error, req, res, _next) => {
  const appError = toAppError(error);
  if (appError.code === 'INTERNAL') req.log?.error({ err: error }, 'request failed');
  else req.log?.warn({ code: appError.code }, appError.message);
  if (res.headersSent) return;
  res.locals.errorCode = appError.code;
  if (appError.retryAfterSeconds !== undefined) res.set('Retry-After', String(appError.retryAfterSeconds));
  res.status(appError.status).json({
    error: appError.message,
    code: appError.code,
    ...(appError.details !== undefined ? { details: appError.details } : {}),
  });
};
