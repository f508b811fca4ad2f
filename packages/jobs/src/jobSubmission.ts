import { createHash, randomUUID } from 'node:crypto';
import { acquireTurn, inFlightLimit, quotaExceeded, type FairQueue } from '@inferq/admission';
import { retentionEnd, tierOf, type Principal, type Tier, type TierTable } from '@inferq/accounts';
import {
  AppError,
  imageTooLargeError,
  isAppError,
  parseJobMetadata,
  queueUnavailable,
  sanitizeFileName,
  type JobMetadata,
  type WebhookEventFilter,
} from '@inferq/core';
import type { JobRecord } from '@inferq/db';
import { decodeCost, pixelSpecBytes, validateImage, type ImageLimits, type ValidatedImage } from '@inferq/images';
import { fetchBounded, FetchFailedError, FetchRefusedError, type OutboundPolicy } from '@inferq/outbound';
import { isResultPrefix } from '@inferq/storage';
import { encodeTensorPayload, parseInferRequest, tensorInputFormat } from '@inferq/tensors';
import { disabledTracing, type Span, type Tracing } from '@inferq/tracing';
import { checkWebhookUrl, type WebhookUrlPolicy } from '@inferq/webhooks';
import type { JobUploads } from './jobUploads.ts';
import type { ModelCatalog, VersionRouter } from './modelCatalog.ts';
import {
  QueueAdmission,
  type AdmissionOutcome,
  type PendingAdmission,
  type QueueAdmissionOptions,
} from './queueAdmission.ts';
import {
  batchImageKey,
  checkIdempotencyKey,
  idempotencyWindowMs,
  imageLimitsOf,
  maxUploadBytes,
  modelNamePattern,
  parseCancelAfter,
  parseTtlSeconds,
  parseWebhookEvents,
  tensorModel,
  unknownModel,
  type BatchItemResult,
  type InputReference,
  type SubmitBatchInput,
  type SubmitJobInput,
  type SubmitJobResult,
  type SubmitTensorsInput,
  type SubmitTensorsResult,
} from './submitInputs.ts';

export interface JobSubmissionOptions extends QueueAdmissionOptions {
  models: ModelCatalog;
  /**
   * Traffic splits: jobs that name no version are sent to the version it picks, and shadowed on
   * the version it names. @defaultValue none: such jobs run on the live version
   */
  routing?: VersionRouter | undefined;
  defaultModel: string;
  /** The global limits; a tier may only lower maxBytes and maxPixels. */
  imageLimits: ImageLimits;
  /**
   * Store uploads with their metadata as sent. Otherwise EXIF (GPS, Artist, maker notes), XMP,
   * IPTC and comments are cut out of what is stored and served, the orientation kept.
   * @defaultValue false
   */
  keepImageMetadata?: boolean | undefined;
  tiers: TierTable;
  /** Which webhook URLs are accepted. @defaultValue https to public addresses only */
  webhookPolicy?: WebhookUrlPolicy;
  /**
   * The process's decoding, by cost (the pixels image headers declare, weighed by format: see
   * decodeCost), a fair queue between users: a decode waits its turn, and one whose turn does
   * not come in time is refused 429 CONCURRENCY_LIMITED or 503 SERVER_BUSY before it starts.
   * @defaultValue none: decodes are not counted
   */
  decodePixels?: FairQueue | undefined;
  /**
   * Which pixels are handed over: `worthwhile` (small ones, or 8-bit ones from an image of at
   * least twice the input's pixels; see pixelsWorthStoring) or `always`. @defaultValue 'worthwhile'
   */
  pixelHandoff?: 'worthwhile' | 'always' | undefined;
  /** How `imageUrl` inputs are fetched. @defaultValue https to public addresses only, within 10 s */
  inputFetch?: InputFetchOptions | undefined;
  /** Reads the uploads that `uploadId` references name. */
  uploads: JobUploads;
}

export interface InputFetchOptions {
  /** Which hosts an `imageUrl` may name (INPUT_FETCH_ALLOW_HOSTS). @defaultValue https to public addresses only */
  policy?: OutboundPolicy | undefined;
  /** The whole fetch must end within this. @defaultValue 10000 */
  timeoutMs?: number | undefined;
}

/** What a submit (single or batch) has checked before any image is looked at. */
interface SubmitContext {
  principal: Principal;
  tier: ReturnType<typeof tierOf>;
  modelName: string;
  version: string | undefined;
  /** Where the split sent the job when it named no version; undefined without a split. */
  route: { version: string; shadow?: string } | undefined;
  model: NonNullable<Awaited<ReturnType<ModelCatalog['resolve']>>>;
  webhookUrl: string | undefined;
  webhookEvents: WebhookEventFilter[] | undefined;
  /** The ttl in ms (the job's start_by is its submit plus this); undefined: none. */
  ttlMs: number | undefined;
  cancelAfterMs: number | undefined;
  metadata: JobMetadata | undefined;
  /** Jobs queued or running when the submit began (the global cap's read). */
  inFlight: number;
  resultPrefix: string | undefined;
}

/**
 * Every way a job is submitted: an image (multipart or by reference), a tensor inference, a
 * batch of images. What they share lives here once: the checks that need no image (#prepare),
 * the idempotency replay, the image's validation and pixel hand-off (#validate), and the
 * admission request; QueueAdmission then writes and enqueues it. Returns data or throws
 * AppError; knows nothing of HTTP.
 */
export class JobSubmission {
  readonly #options: JobSubmissionOptions;
  readonly #queueAdmission: QueueAdmission;

  constructor(options: JobSubmissionOptions) {
    this.#options = options;
    this.#queueAdmission = new QueueAdmission(options);
  }

  /** The global cap on queued + running jobs, as operators are shown it. */
  get queueCap(): number {
    return this.#queueAdmission.queueCap;
  }

  submit(input: SubmitJobInput): Promise<SubmitJobResult> {
    return this.#tracing.inSpan('submit', { attributes: { 'inferq.images': 1 } }, (span) => this.#submit(input, span));
  }

  get #tracing(): Tracing {
    return this.#options.tracing ?? disabledTracing;
  }

  async #submit(input: SubmitJobInput, span: Span): Promise<SubmitJobResult> {
    const { admission } = this.#options;
    const { principal, idempotencyKey } = input;
    checkIdempotencyKey(idempotencyKey, 255);
    const tier = tierOf(principal.tier, this.#options.tiers);
    if (idempotencyKey) {
      const earlier = await admission.findByIdempotencyKey(
        principal.userId,
        idempotencyKey,
        new Date(Date.now() - idempotencyWindowMs),
      );
      if (earlier) return { job: await this.#checkReplay(earlier, input, tier), replayed: true };
    }
    if (!input.image && !input.reference)
      throw new AppError(
        'MISSING_IMAGE',
        'Send the image in the multipart field "image", or give imageUrl or uploadId in a JSON body.',
      );
    const context = await this.#prepare(input);
    if (context.model.tensors) throw tensorModel(context.modelName);
    const source = input.image
      ? { bytes: input.image, uploadKey: undefined }
      : await this.#resolveReference(context, input.reference!);
    const image = await this.#validate(context, source.bytes);
    const pending = this.#admissionOf(context, image, idempotencyKey, input.fileName, span);
    pending.uploadKey = source.uploadKey;
    const outcome = await this.#queueAdmission.admit(pending);
    // A repeat that raced the first submit with the same key: the same request, or 422.
    if (outcome.outcome === 'duplicate')
      return { job: await this.#checkReplay(outcome.job, input, tier, image.sha256), replayed: true };
    return this.#resultOf(context, outcome);
  }

  /**
   * Submits a tensor inference as a job: the request is checked against the model's inputs
   * (INVALID_TENSOR for a wrong name, datatype, shape or element count), and stored through the
   * same input store and admission as an image (quota, priority, idempotency key, webhook, the
   * global cap), its tensors as the job's input. The model is named by the request's path, so an
   * unknown one is MODEL_NOT_FOUND; an image model is MODEL_KIND_MISMATCH.
   */
  submitTensors(input: SubmitTensorsInput): Promise<SubmitTensorsResult> {
    return this.#tracing.inSpan('submit', { attributes: { 'inferq.images': 0 } }, (span) =>
      this.#submitTensors(input, span),
    );
  }

  async #submitTensors(input: SubmitTensorsInput, span: Span): Promise<SubmitTensorsResult> {
    const { principal, idempotencyKey } = input;
    checkIdempotencyKey(idempotencyKey, 255);
    const tier = tierOf(principal.tier, this.#options.tiers);
    const context = await this.#prepare(input).catch((error: unknown) => {
      if (isAppError(error) && error.code === 'UNKNOWN_MODEL')
        throw new AppError('MODEL_NOT_FOUND', error.message, { details: error.details });
      throw error;
    });
    const signature = context.model.tensors;
    if (!signature) {
      throw new AppError(
        'MODEL_KIND_MISMATCH',
        `Model ${context.modelName} takes an image: submit it to POST /v1/jobs.`,
        { details: { model: context.modelName, takes: 'image' } },
      );
    }
    const request = parseInferRequest(input.header, input.binary, signature);
    const data = encodeTensorPayload(request);
    if (data.byteLength > tier.maxUploadBytes) {
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `The tensors take ${data.byteLength} bytes; the ${tier.name} tier takes at most ${tier.maxUploadBytes}.`,
        {
          details: { bytes: data.byteLength, maxBytes: tier.maxUploadBytes },
        },
      );
    }
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (idempotencyKey) {
      const earlier = await this.#options.admission.findByIdempotencyKey(
        principal.userId,
        idempotencyKey,
        new Date(Date.now() - idempotencyWindowMs),
      );
      if (earlier) return { job: this.#checkTensorReplay(earlier, context, sha256), replayed: true, request };
    }
    const stored = { data, format: tensorInputFormat, width: 0, height: 0, sha256, pixels: undefined };
    const outcome = await this.#queueAdmission.admit(
      this.#admissionOf(context, stored, idempotencyKey, undefined, span),
    );
    if (outcome.outcome === 'duplicate')
      return { job: this.#checkTensorReplay(outcome.job, context, sha256), replayed: true, request };
    return { ...this.#resultOf(context, outcome), request };
  }

  #checkTensorReplay(earlier: JobRecord, context: SubmitContext, sha256: string): JobRecord {
    const field =
      earlier.modelName !== context.modelName
        ? 'model'
        : (context.version ?? null) !== earlier.requestedVersion
          ? 'model version'
          : earlier.inputSha256 !== sha256
            ? 'tensors'
            : null;
    if (field === null) return earlier;
    throw new AppError(
      'IDEMPOTENCY_KEY_REUSED',
      `This Idempotency-Key was used for job ${earlier.id} with other ${field}; use a new key for a new request.`,
      {
        details: { jobId: earlier.id, field },
      },
    );
  }

  /**
   * Submits many images of one caller with the same model, version and webhook: each is
   * validated on its own, and every valid one admitted in one group (one transaction, one
   * enqueue), so the quota counts them in order. Errors of the request as a whole (no such
   * model, a bad webhook, the queue full or down before any image is read) throw; an image's own
   * error (invalid, too large, over the quota, past the global cap: QUEUE_FULL, or not enqueued:
   * QUEUE_UNAVAILABLE) is its item's. With an idempotency key K, image i is submitted under a
   * key of its own that no single submit can send (batchImageKey).
   */
  submitMany(input: SubmitBatchInput): Promise<BatchItemResult[]> {
    return this.#tracing.inSpan('submit', { attributes: { 'inferq.images': input.images.length } }, (span) =>
      this.#submitMany(input, span),
    );
  }

  async #submitMany(input: SubmitBatchInput, span: Span): Promise<BatchItemResult[]> {
    const { idempotencyKey } = input;
    checkIdempotencyKey(idempotencyKey, 240);
    if (input.images.length === 0)
      throw new AppError('MISSING_IMAGE', 'Send the images in multipart fields named "image".');
    const context = await this.#prepare(input);
    if (context.model.tensors) throw tensorModel(context.modelName);
    const items: Array<BatchItemResult | undefined> = Array.from({ length: input.images.length });
    const valid: Array<{ index: number; pending: PendingAdmission }> = [];
    // Two at a time: a batch keeps the thread pool busy without holding more than two images'
    // decode memory of its user's share.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(2, input.images.length) }, async () => {
        for (let index = next++; index < input.images.length; index = next++) {
          const given = input.images[index]!;
          try {
            if (!Buffer.isBuffer(given) && 'tooLarge' in given) {
              const maxBytes = maxUploadBytes(this.#options.imageLimits, context.tier);
              throw imageTooLargeError(maxBytes, given.size);
            }
            const source = Buffer.isBuffer(given)
              ? { bytes: given, uploadKey: undefined }
              : await this.#resolveReference(context, given.reference);
            const image = await this.#validate(context, source.bytes);
            const pending = this.#admissionOf(
              context,
              image,
              idempotencyKey ? batchImageKey(idempotencyKey, index) : undefined,
              input.fileNames?.[index],
              span,
            );
            pending.uploadKey = source.uploadKey;
            valid.push({ index, pending });
          } catch (error) {
            if (!isAppError(error)) throw error;
            items[index] = { ok: false, error };
          }
        }
      }),
    );
    valid.sort((a, b) => a.index - b.index);
    const outcomes = await this.#queueAdmission.admitAll(valid.map((entry) => entry.pending));
    await Promise.all(
      valid.map(async ({ index, pending }, i) => {
        try {
          const outcome = outcomes[i]!;
          // An image answered with the job of its key must be the same request as that job's.
          const result =
            outcome.outcome === 'duplicate'
              ? {
                  job: await this.#checkReplay(
                    outcome.job,
                    { ...input, image: pending.request.job.input.data, reference: undefined },
                    context.tier,
                    pending.request.job.input.sha256,
                  ),
                  replayed: true,
                }
              : this.#resultOf(context, outcome);
          items[index] = { ok: true, ...result };
        } catch (error) {
          if (!isAppError(error)) throw error;
          items[index] = { ok: false, error };
        }
      }),
    );
    return items as BatchItemResult[];
  }

  /** The checks of a submit that do not depend on the image: tier, model, webhook, queue. */
  async #prepare(input: Omit<SubmitJobInput, 'image'>): Promise<SubmitContext> {
    const { queue, models, defaultModel } = this.#options;
    const tier = tierOf(input.principal.tier, this.#options.tiers);
    const modelName = input.model?.trim() || defaultModel;
    const version = input.modelVersion?.trim() || undefined;
    if (!modelNamePattern.test(modelName) || (version !== undefined && !modelNamePattern.test(version))) {
      throw new AppError('UNKNOWN_MODEL', 'No such model.', { details: { model: modelName.slice(0, 64), version } });
    }
    // A split decides the version of a job that names none (one per submit: a batch's images go together).
    const route =
      version === undefined
        ? ((await this.#options.routing?.route(modelName, input.principal.userId)) ?? undefined)
        : undefined;
    const model =
      (route ? await models.resolve(modelName, route.version) : null) ?? (await models.resolve(modelName, version));
    if (!model) throw await unknownModel(models, modelName, version);
    const webhookUrl = input.webhook ? checkWebhookUrl(input.webhook, this.#options.webhookPolicy) : undefined;
    const webhookEvents = parseWebhookEvents(input.webhookEvents, webhookUrl !== undefined);
    const ttlSeconds = parseTtlSeconds(input.ttlSeconds);
    const cancelAfterMs = parseCancelAfter(input.cancelAfter);
    const metadata = parseJobMetadata(input.metadata);
    // Refuse at once while Redis is down: no row is written for a job that cannot be queued.
    if (!queue.isReady()) throw queueUnavailable();
    if (input.resultPrefix !== undefined && (!this.#options.blobs || !isResultPrefix(input.resultPrefix))) {
      const message = this.#options.blobs
        ? 'resultPrefix is path segments of letters, digits, ".", "_" and "-".'
        : 'A result sink needs a blob store (BLOB_STORE_URL) on this platform.';
      throw new AppError('VALIDATION_FAILED', message, { details: { field: 'resultPrefix' } });
    }
    const inFlight = await this.#queueAdmission.checkCapacity();
    // The routed version must be the one resolved: a version gone since the split was read runs the live one.
    const routed = route && model.version === route.version ? route : undefined;
    return {
      principal: input.principal,
      tier,
      modelName,
      version,
      route: routed,
      model,
      webhookUrl,
      webhookEvents,
      ttlMs: ttlSeconds === undefined ? undefined : ttlSeconds * 1000,
      cancelAfterMs,
      metadata,
      inFlight,
      resultPrefix: input.resultPrefix,
    };
  }

  /**
   * The bytes of an image given by reference, bounded by the caller's upload limit, for #validate
   * to check as it checks an upload. `imageUrl`: fetched now, under the input fetch policy (a URL
   * the guard refuses is INVALID_INPUT_URL and never fetched; a fetch that fails is
   * INPUT_FETCH_FAILED, answered to this submit). `uploadId`: the caller's upload, read from the
   * blob store (UPLOAD_NOT_FOUND when absent or expired).
   */
  async #resolveReference(
    context: SubmitContext,
    reference: InputReference,
  ): Promise<{ bytes: Buffer; uploadKey: string | undefined }> {
    const maxBytes = maxUploadBytes(this.#options.imageLimits, context.tier);
    if (reference.imageUrl !== undefined) {
      const fetchOptions = this.#options.inputFetch ?? {};
      try {
        const { body } = await fetchBounded(reference.imageUrl, {
          policy: fetchOptions.policy ?? {},
          maxBytes,
          timeoutMs: fetchOptions.timeoutMs ?? 10_000,
          accept: 'image/*',
        });
        return { bytes: body, uploadKey: undefined };
      } catch (error) {
        if (error instanceof FetchRefusedError) {
          throw new AppError('INVALID_INPUT_URL', `The image URL is refused: ${error.reason.replaceAll('_', ' ')}.`, {
            details: { field: 'imageUrl', reason: error.reason },
          });
        }
        if (error instanceof FetchFailedError) {
          if (error.reason === 'too_large')
            throw new AppError('INPUT_FETCH_FAILED', `The image at the URL is larger than ${maxBytes} bytes.`, {
              details: { field: 'imageUrl', reason: error.reason, maxBytes },
            });
          throw new AppError('INPUT_FETCH_FAILED', `The image could not be fetched: ${error.message}.`, {
            details: { field: 'imageUrl', reason: error.reason, ...(error.status ? { status: error.status } : {}) },
          });
        }
        throw error;
      }
    }
    const upload = await this.#options.uploads.read(context.principal.userId, reference.uploadId, maxBytes);
    return { bytes: upload.bytes, uploadKey: upload.key };
  }

  /**
   * Validates one image within the caller's tier limits, its decode counted against the caller's
   * share. With a pixel store that has room, the validating decode also makes the model's pixels
   * (the job's one decode); without, the check is the cheapest that still reads all the data.
   */
  async #validate(context: SubmitContext, bytes: Buffer): Promise<ValidatedImage> {
    const { imageLimits, decodePixels, pixels: store } = this.#options;
    const userId = context.principal.userId;
    const spec = context.model.input;
    const handOver = spec !== undefined && store !== undefined && store.fits(pixelSpecBytes(spec), context.inFlight);
    return validateImage(bytes, imageLimitsOf(imageLimits, context.tier), {
      // Only where the pixels pay for moving (pixelsWorthStoring): from a PNG, WebP or other
      // format whose check decodes every pixel anyway, small ones or from an image of at least
      // twice the input's pixels. A JPEG's are the worker's to make: its check is a 1/8 pass, and
      // its full decode in the API costs more than the worker's own (nsfw, pnpm bench e2e
      // --api-env PIXEL_HANDOFF=always: API 9.0 → 19.4 ms, workers 22.9 → 17.2 ms of CPU a job).
      ...(handOver ? { pixels: spec, preparePixels: this.#options.pixelHandoff ?? 'worthwhile' } : {}),
      keepMetadata: this.#options.keepImageMetadata ?? false,
      beforeDecode: decodePixels
        ? async (declared) =>
            (
              await acquireTurn(decodePixels, 'decodePixels', userId, decodeCost(declared), {
                weight: context.tier.shareWeight,
              })
            ).release
        : undefined,
    });
  }

  #admissionOf(
    context: SubmitContext,
    image: Pick<ValidatedImage, 'data' | 'width' | 'height' | 'sha256' | 'pixels'> & { format: string },
    idempotencyKey: string | undefined,
    fileName: string | undefined,
    span: Span,
  ): PendingAdmission {
    const {
      principal,
      tier,
      modelName,
      version,
      route,
      webhookUrl,
      webhookEvents,
      ttlMs,
      cancelAfterMs,
      resultPrefix,
      metadata,
    } = context;
    const id = randomUUID();
    const runOn = version ?? route?.version;
    return {
      request: {
        job: {
          id,
          userId: principal.userId,
          modelName,
          requestedVersion: version,
          routedVersion: route?.version,
          expiresAt: retentionEnd(tier),
          idempotencyKey,
          webhookUrl,
          webhookEvents,
          // Counted from the moment the image is accepted, so a slow upload does not eat the ttl.
          startBy: ttlMs === undefined ? undefined : new Date(Date.now() + ttlMs),
          cancelAfterMs,
          resultPrefix,
          metadata,
          input: {
            data: image.data,
            format: image.format,
            width: image.width,
            height: image.height,
            sha256: image.sha256,
            fileName: sanitizeFileName(fileName),
          },
        },
        limit: inFlightLimit(tier, idempotencyWindowMs),
      },
      payload: { jobId: id, model: modelName, ...(runOn ? { modelVersion: runOn } : {}) },
      shadow: route?.shadow,
      pixels: image.pixels,
      span,
    };
  }

  #resultOf(context: SubmitContext, outcome: AdmissionOutcome): SubmitJobResult {
    if (outcome.outcome === 'failed') throw outcome.error;
    if (outcome.outcome === 'duplicate') return { job: outcome.job, replayed: true };
    if (outcome.outcome === 'over-quota') throw quotaExceeded(context.tier, outcome);
    return { job: outcome.job, replayed: false };
  }

  /**
   * A submit under the Idempotency-Key of an earlier one is answered with that job only when it
   * is the same request: the same model and version, and the same image (its stored bytes, so an
   * upload whose trailing bytes were cut still matches). Anything else is 422
   * IDEMPOTENCY_KEY_REUSED, never the other job.
   */
  async #checkReplay(earlier: JobRecord, input: SubmitJobInput, tier: Tier, storedSha256?: string): Promise<JobRecord> {
    const reused = (field: string) =>
      new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        `This Idempotency-Key was used for job ${earlier.id} with another ${field}; use a new key for a new request.`,
        {
          details: { jobId: earlier.id, field },
        },
      );
    const modelName = input.model?.trim() || this.#options.defaultModel;
    if (modelName !== earlier.modelName) throw reused('model');
    if ((input.modelVersion?.trim() || null) !== earlier.requestedVersion) throw reused('model version');
    // By reference, the same key with the same model is the same request: the reference is not
    // fetched again (an upload is used once, and a URL may answer other bytes by now).
    if (!input.image && input.reference) return earlier;
    if (!input.image) throw reused('image');
    const sha256 = storedSha256 ?? createHash('sha256').update(input.image).digest('hex');
    if (sha256 === earlier.inputSha256) return earlier;
    if (storedSha256) throw reused('image');
    // Not byte for byte the stored image: it may still be once validation cuts what follows the image.
    const { imageLimits } = this.#options;
    const image = await validateImage(input.image, imageLimitsOf(imageLimits, tier), {
      keepMetadata: this.#options.keepImageMetadata ?? false,
    }).catch(() => undefined);
    if (image?.sha256 !== earlier.inputSha256) throw reused('image');
    return earlier;
  }
}
