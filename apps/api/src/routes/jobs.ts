import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { rateLimited, type FairQueue, type RateLimits } from '@inferq/admission';
import { tierOf, type TierTable } from '@inferq/accounts';
import {
  AppError,
  createUploadBodySchema,
  isFinalStatus,
  submitBatchJsonSchema,
  submitJobFormSchema,
  submitJobJsonSchema,
  type BatchItemView,
  type UploadView,
} from '@inferq/core';
import type {
  BatchImage,
  InputReference,
  JobCommands,
  JobReads,
  JobSubmission,
  JobUploads,
  SubmitBatchInput,
  SubmitJobInput,
  SubmitJobResult,
} from '@inferq/jobs';
import type { z } from 'zod';
import { imageOnly, thumbnailSides } from '@inferq/images';
import { maxWebhookUrlLength } from '@inferq/webhooks';
import { waitPreference } from '../http/prefer.ts';
import { sendJob } from '../http/sendJob.ts';
import { releaseSubmitSlot, type SubmitSlots } from '../http/submitSlots.ts';
import { principalOf } from '../http/authenticate.ts';
import { toDeliveryView, toJobView } from '../jobView.ts';
import { imageBatchUpload, imageTooLarge, imageUpload, payloadTooLarge } from '../http/upload.ts';
import { multipartOverheadBytes, releaseUploadMemory, reserveUploadMemory } from '../http/uploadMemory.ts';
import { rateLimitHeaders } from '../http/rateLimitHeaders.ts';
import { metricsOf } from '../http/httpMetrics.ts';
import { firstString, jobFilterQuery } from '../http/query.ts';

/** Content types of the stored input formats; the bytes were sniffed at upload, never trusted by name. */
const contentTypes: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  tiff: 'image/tiff',
};

/** Codes that refuse an image for the platform's state (the queue), not for anything in the image. */
const platformRefusals: ReadonlySet<string> = new Set(['QUEUE_FULL', 'QUEUE_UNAVAILABLE']);

const submitFieldsSchema = submitJobFormSchema.omit({ image: true });

/** `?size=N` of the image route: a square thumbnail N pixels wide; absent, the image as stored. */
function thumbnailSize(req: Request): number | undefined {
  const raw = firstString(req.query.size);
  if (raw === undefined) return undefined;
  const size = /^\d{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(size >= thumbnailSides.min && size <= thumbnailSides.max)) {
    throw new AppError(
      'VALIDATION_FAILED',
      `size must be an integer from ${thumbnailSides.min} to ${thumbnailSides.max}.`,
      { details: { size: raw.slice(0, 20) } },
    );
  }
  return size;
}

/**
 * The submit form's text fields, checked against its wire schema (the first of a repeated field;
 * model and version may also come in the query string). A value past the schema's bounds is
 * answered as the service answers a bad value of that field: no such model, or a webhook URL
 * that is too long.
 */
function submitFields(req: Request) {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const parsed = submitFieldsSchema.safeParse({
    model: firstString(body.model) ?? firstString(req.query.model),
    version: firstString(body.version) ?? firstString(req.query.version),
    webhook: firstString(body.webhook),
    webhookEvents: firstString(body.webhookEvents),
    ttlSeconds: firstString(body.ttlSeconds),
    cancelAfter: firstString(body.cancelAfter),
    metadata: firstString(body.metadata),
  });
  if (parsed.success) return parsed.data;
  // Too long to be a number: refused as the service refuses a bad value of that field.
  for (const field of ['ttlSeconds', 'cancelAfter'] as const) {
    if (parsed.error.issues.some((issue) => issue.path[0] === field)) {
      throw new AppError('VALIDATION_FAILED', `${field} is not valid.`, { details: { field } });
    }
  }
  if (parsed.error.issues.some((issue) => issue.path[0] === 'webhookEvents')) {
    throw new AppError('VALIDATION_FAILED', 'webhookEvents is a short list: started, completed.', {
      details: { field: 'webhookEvents' },
    });
  }
  if (parsed.error.issues.some((issue) => issue.path[0] === 'metadata')) {
    throw new AppError('INVALID_METADATA', 'metadata is too long.', {
      details: { field: 'metadata', reason: 'too_large' },
    });
  }
  if (parsed.error.issues.some((issue) => issue.path[0] === 'webhook')) {
    throw new AppError('INVALID_WEBHOOK_URL', `The webhook URL is longer than ${maxWebhookUrlLength} characters.`, {
      details: { reason: 'too_long' },
    });
  }
  throw new AppError('UNKNOWN_MODEL', 'No such model.');
}

/** What a single and a batch submit both pass the service: the caller, the form's fields, the Idempotency-Key. */
function submitInput(req: Request): Omit<SubmitBatchInput, 'images' | 'fileNames'> {
  const fields = submitFields(req);
  return {
    principal: principalOf(req),
    model: fields.model,
    modelVersion: fields.version,
    idempotencyKey: req.get('idempotency-key'),
    webhook: fields.webhook,
    webhookEvents: fields.webhookEvents,
    ttlSeconds: fields.ttlSeconds,
    // The header, as Replicate's `Cancel-After`, or the form field.
    cancelAfter: req.get('cancel-after') ?? fields.cancelAfter,
    metadata: fields.metadata,
  };
}

/** A JSON body (a submit by reference) skips the multipart steps: there are no image bytes to hold. */
function unlessJson(handler: RequestHandler): RequestHandler {
  return (req, res, next) => (req.is('application/json') ? next() : handler(req, res, next));
}

/** A JSON body checked against its wire schema; the first problem is answered VALIDATION_FAILED with its field. */
function parseJsonBody<T extends z.ZodType>(schema: T, req: Request): z.infer<T> {
  const parsed = schema.safeParse(req.body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join('.') || 'body';
  if (field === 'webhook')
    throw new AppError('INVALID_WEBHOOK_URL', `The webhook URL is longer than ${maxWebhookUrlLength} characters.`, {
      details: { reason: 'too_long' },
    });
  throw new AppError('VALIDATION_FAILED', `${field}: ${issue.message}`, { details: { field } });
}

/** `imageUrl` or `uploadId`, exactly one. */
function referenceOf(
  given: { imageUrl?: string | undefined; uploadId?: string | undefined },
  field: string,
): InputReference {
  if (given.imageUrl !== undefined && given.uploadId === undefined) return { imageUrl: given.imageUrl };
  if (given.uploadId !== undefined && given.imageUrl === undefined) return { uploadId: given.uploadId };
  throw new AppError('VALIDATION_FAILED', 'Give exactly one of imageUrl and uploadId.', { details: { field } });
}

/** What a JSON submit (single or batch) passes the service besides its references. */
function jsonSubmitInput(
  req: Request,
  body: z.infer<typeof submitJobJsonSchema> | z.infer<typeof submitBatchJsonSchema>,
): Omit<SubmitJobInput, 'image'> {
  return {
    principal: principalOf(req),
    model: body.model,
    modelVersion: body.version,
    idempotencyKey: req.get('idempotency-key'),
    webhook: body.webhook,
    webhookEvents: body.webhookEvents,
    ttlSeconds: body.ttlSeconds,
    cancelAfter: req.get('cancel-after') ?? body.cancelAfter,
    resultPrefix: body.resultPrefix,
    metadata: body.metadata,
  };
}

/**
 * Once the service has answered: the submit slot and the upload memory go back before any
 * `Prefer: wait`, and each new job (not an idempotent replay) is counted under its model.
 */
function submitted(req: Request, res: Response, results: SubmitJobResult[]): void {
  releaseSubmitSlot(res);
  releaseUploadMemory(req, res);
  const metrics = metricsOf(req);
  for (const { job, replayed } of results) if (!replayed) metrics?.jobsSubmitted.inc({ model: job.modelName });
}

/** Aborted when the client goes away before the answer is sent, so its wait stops at once. */
function clientGone(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

export interface JobsRouterOptions {
  /** Largest upload from anyone (MAX_UPLOAD_BYTES); a tier may only lower it. */
  maxFileBytes: number;
  tiers: TierTable;
  /** Slots for submissions in progress, with a per-user share. */
  slots: SubmitSlots;
  /** The process's upload memory, a fair queue (a quarter of it is the largest batch body). */
  uploadBytes: FairQueue;
  /** A batch spends one unit of the submit budget per image; the first was spent by the rateLimit middleware. */
  rateLimits: RateLimits;
}

/** The job services the routes call, each handler the one it needs. */
export interface JobsRouterServices {
  submission: JobSubmission;
  reads: JobReads;
  commands: JobCommands;
  uploads: JobUploads;
}

export function jobsRouter(services: JobsRouterServices, options: JobsRouterOptions): Router {
  const { submission, reads, commands, uploads } = services;
  const router = Router();
  const { slots, uploadBytes } = options;
  const tierOfReq = (req: Request) => tierOf(principalOf(req).tier, options.tiers);
  const maxFileBytesFor = (req: Request) => Math.min(options.maxFileBytes, tierOfReq(req).maxUploadBytes);
  // A batch body: every image at the tier's limit, but never more than one user's upload memory.
  const maxBatchBytesFor = (req: Request) =>
    Math.min(
      Math.floor(uploadBytes.capacity / 4),
      maxFileBytesFor(req) * tierOfReq(req).maxBatchImages + multipartOverheadBytes,
    );
  const weightOf = (req: Request) => tierOfReq(req).shareWeight;

  router.post(
    '/jobs',
    unlessJson(
      reserveUploadMemory(
        uploadBytes,
        (req) => maxFileBytesFor(req) + multipartOverheadBytes,
        (max) => imageTooLarge(max - multipartOverheadBytes),
        weightOf,
      ),
    ),
    unlessJson(imageUpload({ maxFileBytes: options.maxFileBytes, maxFileBytesFor })),
    slots.acquire,
    async function submitJob(req, res) {
      let input: SubmitJobInput;
      if (req.is('application/json')) {
        const body = parseJsonBody(submitJobJsonSchema, req);
        input = { ...jsonSubmitInput(req, body), image: undefined, reference: referenceOf(body, 'imageUrl') };
      } else input = { ...submitInput(req), image: req.file?.buffer, fileName: req.file?.originalname };
      const result = await submission.submit(input);
      submitted(req, res, [result]);
      const { job, replayed } = result;
      req.log?.setBindings?.({ jobId: job.id });
      // `Prefer: wait=N`: hold the answer until the job is final (200) or N seconds pass (202).
      const wait = waitPreference(undefined, req.get('prefer'));
      let latest = job;
      if (wait.asked) {
        res.set('Preference-Applied', `wait=${wait.seconds}`);
        if (wait.seconds > 0 && !isFinalStatus(job.status)) {
          const outcome = await reads.waitFor(principalOf(req), job.id, {
            timeoutMs: wait.seconds * 1000,
            signal: clientGone(res),
          });
          if (!outcome.job) return; // the client went away
          latest = outcome.job;
        }
      }
      const view = { ...toJobView(latest), ...(await reads.queueStatus(latest)) };
      // 200: the same Idempotency-Key within 24 h answers the original job instead of a new one,
      // and a job that finished while the request waited is answered with its result.
      res.location(view.links.self);
      sendJob(req, res, view, replayed || isFinalStatus(latest.status) ? 200 : 202);
    },
  );

  router.post(
    '/jobs/batch',
    unlessJson(reserveUploadMemory(uploadBytes, maxBatchBytesFor, payloadTooLarge, weightOf)),
    unlessJson(
      imageBatchUpload({
        maxFileBytes: options.maxFileBytes,
        maxFileBytesFor,
        maxFilesFor: (req) => tierOfReq(req).maxBatchImages,
        maxTotalBytesFor: maxBatchBytesFor,
      }),
    ),
    slots.acquire,
    async function submitBatch(req, res) {
      let input: SubmitBatchInput;
      if (req.is('application/json')) {
        const body = parseJsonBody(submitBatchJsonSchema, req);
        const maxImages = tierOfReq(req).maxBatchImages;
        if (body.inputs.length > maxImages) {
          throw new AppError('VALIDATION_FAILED', `A batch holds at most ${maxImages} images on your tier.`, {
            details: { field: 'inputs', maxBatchImages: maxImages },
          });
        }
        input = {
          ...jsonSubmitInput(req, body),
          images: body.inputs.map((given, index): BatchImage => ({ reference: referenceOf(given, `inputs.${index}`) })),
        };
      } else {
        const files = (Array.isArray(req.files) ? req.files : []) as Array<Express.Multer.File & { tooLarge?: true }>;
        input = {
          ...submitInput(req),
          images: files.map((file): BatchImage => (file.tooLarge ? { tooLarge: true, size: file.size } : file.buffer)),
          fileNames: files.map((file) => file.originalname),
        };
      }
      const { principal } = input;
      const count = input.images.length;
      if (count > 1) {
        // One unit of the submit budget per image; the request itself spent the first.
        const decision = await options.rateLimits.consume(principal.userId, principal.tier, 'submit', count - 1);
        res.set(rateLimitHeaders(decision));
        if (!decision.allowed)
          throw rateLimited(
            decision,
            `Rate limit reached: a batch of ${count} images spends ${count} submits; retry in ${decision.retryAfterSeconds} s.`,
          );
      }
      const items = await submission.submitMany(input);
      // Every image refused for the platform's state, not its own (the queue full or down): the
      // batch as a whole is to be tried again, so it answers as one such error, with Retry-After.
      const first = items[0];
      if (
        first &&
        !first.ok &&
        platformRefusals.has(first.error.code) &&
        items.every((item) => !item.ok && item.error.code === first.error.code)
      )
        throw first.error;
      submitted(
        req,
        res,
        items.filter((item) => item.ok),
      );
      // `Prefer: wait=N`: hold the answer until every job is final or N seconds pass.
      const wait = waitPreference(undefined, req.get('prefer'));
      const jobs = items.map((item) => (item.ok ? item.job : undefined));
      if (wait.asked) {
        res.set('Preference-Applied', `wait=${wait.seconds}`);
        if (wait.seconds > 0) {
          const signal = clientGone(res);
          const waited = await Promise.all(
            jobs.map(async (job) =>
              job && !isFinalStatus(job.status)
                ? (await reads.waitFor(principal, job.id, { timeoutMs: wait.seconds * 1000, signal })).job
                : job,
            ),
          );
          if (signal.aborted) return; // the client went away
          waited.forEach((job, i) => (jobs[i] = job ?? jobs[i]));
        }
      }
      // Queue positions and ETAs of every job of the batch in one read.
      const accepted = jobs.filter((job) => job !== undefined);
      const statuses = new Map((await reads.queueStatusMany(accepted)).map((status, i) => [accepted[i]!.id, status]));
      const data: BatchItemView[] = items.map((item, index) => {
        if (!item.ok) return { index, status: item.error.status, job: null, error: item.error.toBody().error };
        const job = jobs[index]!;
        return {
          index,
          status: item.replayed || isFinalStatus(job.status) ? 200 : 202,
          job: { ...toJobView(job), ...statuses.get(job.id) },
          error: null,
        };
      });
      const acceptedCount = data.filter((item) => item.job).length;
      const unfinished = data.some((item) => item.job && !isFinalStatus(item.job.status));
      res.status(unfinished ? 202 : 200).json({ data, accepted: acceptedCount, refused: data.length - acceptedCount });
    },
  );

  router.post('/uploads', async function createUpload(req, res) {
    const body = parseJsonBody(createUploadBodySchema, req);
    const upload = await uploads.create(principalOf(req), body);
    const view: UploadView = upload.presigned
      ? {
          uploadId: upload.uploadId,
          url: upload.presigned.url,
          headers: upload.presigned.headers,
          expiresAt: upload.expiresAt.toISOString(),
        }
      : // The filesystem driver: the bytes come to this API, with the caller's key.
        {
          uploadId: upload.uploadId,
          url: `${req.protocol}://${req.get('host')}/v1/uploads/${upload.uploadId}`,
          headers: { 'content-type': body.contentType },
          expiresAt: upload.expiresAt.toISOString(),
        };
    res.status(201).json(view);
  });

  router.put(
    '/uploads/:id',
    // Any content type: the format is sniffed from the bytes at submit. Bounded by the largest upload.
    express.raw({ type: () => true, limit: options.maxFileBytes }),
    async function putUpload(req, res) {
      await uploads.put(principalOf(req), req.params.id!, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
      res.status(204).end();
    },
  );

  router.get('/jobs', async function listJobs(req, res) {
    const page = await reads.list(principalOf(req), {
      ...jobFilterQuery(req),
      cursor: firstString(req.query.cursor),
      limit: firstString(req.query.limit),
    });
    const waiting = await reads.queueStatusMany(page.jobs);
    res.json({ data: page.jobs.map((job, i) => ({ ...toJobView(job), ...waiting[i] })), nextCursor: page.nextCursor });
  });

  router.post('/jobs/:id/cancel', async function cancelJob(req, res) {
    const job = await commands.cancel(principalOf(req), req.params.id);
    metricsOf(req)?.jobsFinished.inc({ model: job.modelName, status: 'canceled', code: '' });
    res.json(toJobView(job));
  });

  router.delete('/jobs/:id', async function deleteJob(req, res) {
    await commands.delete(principalOf(req), req.params.id);
    res.status(204).end();
  });

  router.get('/jobs/:id', async function getJob(req, res) {
    const wait = waitPreference(req.query.wait, req.get('prefer'));
    res.vary('Prefer');
    if (wait.asked) res.set('Preference-Applied', `wait=${wait.seconds}`);
    const outcome = await reads.waitFor(principalOf(req), req.params.id, {
      timeoutMs: wait.seconds * 1000,
      signal: clientGone(res),
    });
    if (!outcome.job) return; // the client went away
    sendJob(req, res, { ...toJobView(outcome.job), ...(await reads.queueStatus(outcome.job)) });
  });

  router.get('/jobs/:id/image', async function getJobImage(req, res) {
    const size = thumbnailSize(req);
    let job;
    let bytes: Uint8Array;
    if (size) ({ job, bytes } = await reads.thumbnail(principalOf(req), req.params.id, size));
    else {
      const input = await reads.input(principalOf(req), req.params.id);
      if (!input.bytes) throw new AppError('NOT_FOUND', 'The input of this job is no longer stored.');
      job = input.job;
      // Inputs are stored trimmed to the image; rows from before that are trimmed here.
      bytes = imageOnly(input.bytes, input.job.inputFormat);
    }
    res.set({
      'Content-Type': size ? 'image/webp' : (contentTypes[job.inputFormat] ?? 'application/octet-stream'),
      'Content-Length': String(bytes.byteLength),
      // Private: the image belongs to one account; immutable: a job's input never changes.
      'Cache-Control': 'private, max-age=3600, immutable',
      'Content-Disposition': `inline; filename="${job.id}${size ? `-${size}.webp` : `.${job.inputFormat}`}"`,
      'Content-Security-Policy': "default-src 'none'",
      // Never sniffed into HTML or script, whatever the bytes look like (helmet sets it too).
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(bytes);
  });

  router.get('/jobs/:id/deliveries', async function listJobDeliveries(req, res) {
    const deliveries = await reads.deliveries(principalOf(req), req.params.id);
    res.json({ data: deliveries.map(toDeliveryView) });
  });

  return router;
}
