/**
 * What a submit is given and the checks of it that need no service: the submit kinds' input and
 * result types, the field parsers (ttl, Cancel-After, webhook events, Idempotency-Key) and the
 * caller's image limits. JobSubmission drives them.
 */
import type { Principal, Tier } from '@inferq/accounts';
import { AppError, webhookEventFilters, type WebhookEventFilter } from '@inferq/core';
import type { JobRecord } from '@inferq/db';
import type { ImageLimits } from '@inferq/images';
import type { InferRequest } from '@inferq/tensors';
import type { ModelCatalog } from './modelCatalog.ts';

/** An image given by reference rather than in the request: a URL to fetch, or an upload of the caller's. */
export type InputReference = { imageUrl: string; uploadId?: undefined } | { uploadId: string; imageUrl?: undefined };

export interface SubmitJobInput {
  principal: Principal;
  image: Buffer | undefined;
  /** The uploaded file's name as the client sent it (multer's `originalname`); stored sanitized. */
  fileName?: string | undefined;
  model?: string | undefined;
  modelVersion?: string | undefined;
  /** The `Idempotency-Key` header. */
  idempotencyKey?: string | undefined;
  /** URL POSTed with the job when it is final. */
  webhook?: string | undefined;
  /** The `webhookEvents` form field: comma-separated `started`, `completed`. @defaultValue 'completed' */
  webhookEvents?: string | undefined;
  /** The image by reference (a JSON submit), when `image` is absent. */
  reference?: InputReference | undefined;
  /**
   * Seconds the job may wait to start (1 to 604800; the form field's text or a JSON number): not
   * started by then, it becomes `expired`. @defaultValue none: it waits for ever
   */
  ttlSeconds?: string | number | undefined;
  /**
   * Execution deadline of each attempt: seconds, or a duration (`90s`, `5m`, `1h30m`), as the
   * `Cancel-After` header. @defaultValue none: only the model's time limit
   */
  cancelAfter?: string | number | undefined;
  /** A result sink: the result JSON is also written to `results/<resultPrefix>/<id>.json` in the blob store. */
  resultPrefix?: string | undefined;
  /**
   * The client's metadata: the multipart field's JSON text, or the JSON body's object; checked by
   * core's parseJobMetadata (at most 20 string keys and values). @defaultValue none
   */
  metadata?: string | Record<string, unknown> | undefined;
}

export interface SubmitJobResult {
  job: JobRecord;
  /** True when an earlier submit with the same idempotency key is answered again. */
  replayed: boolean;
}

/** A tensor inference (`POST /v2/models/{name}/infer`): the request's JSON header and its binary section. */
export interface SubmitTensorsInput extends Omit<SubmitJobInput, 'image' | 'fileName'> {
  /** The inference request object (JSON), not yet checked. */
  header: unknown;
  /** The bytes after the JSON header (binary-data extension); empty for a JSON-only request. */
  binary: Uint8Array;
}

export interface SubmitTensorsResult extends SubmitJobResult {
  /** The request as checked against the model: its tensors, the outputs it asked for. */
  request: InferRequest;
}

/** One image of a batch: its bytes, or why the upload refused them on its own. */
export type BatchImage = Buffer | { tooLarge: true; size: number } | { reference: InputReference };

export interface SubmitBatchInput extends Omit<SubmitJobInput, 'image' | 'fileName'> {
  images: BatchImage[];
  /** The uploaded files' names, by position (stored sanitized). */
  fileNames?: Array<string | undefined>;
}

/** What became of one image of a batch: a job (new, or replayed for its key) or its own error. */
export type BatchItemResult = ({ ok: true } & SubmitJobResult) | { ok: false; error: AppError };

export const modelNamePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
/** Longest ttl: a week (a job that waits longer has long stopped being worth running). */
export const maxTtlSeconds = 7 * 24 * 3600;
/** Longest execution deadline: a day. */
export const maxCancelAfterSeconds = 24 * 3600;

/** `ttlSeconds`: an integer number of seconds from 1 to maxTtlSeconds; undefined when absent. */
export function parseTtlSeconds(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const seconds =
    typeof value === 'number' ? value : /^[0-9]{1,7}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > maxTtlSeconds) {
    throw new AppError('VALIDATION_FAILED', `ttlSeconds must be an integer from 1 to ${maxTtlSeconds}.`, {
      details: { field: 'ttlSeconds', min: 1, max: maxTtlSeconds },
    });
  }
  return seconds;
}

const durationUnitsMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * A `Cancel-After` value in ms: plain seconds (`90`, `1.5`) or a duration of h, m, s and ms
 * parts in that order (`5m`, `1h30m`, `2.5s`, `500ms`), as Replicate's header takes it; from 100 ms
 * to maxCancelAfterSeconds. undefined when absent.
 */
export function parseCancelAfter(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const refuse = () =>
    new AppError(
      'VALIDATION_FAILED',
      `Cancel-After must be seconds or a duration such as 90s, 5m or 1h30m, from 100 ms to ${maxCancelAfterSeconds / 3600} h.`,
      {
        details: { field: 'cancelAfter', header: 'Cancel-After' },
      },
    );
  let ms: number;
  if (typeof value === 'number') ms = value * 1000;
  else {
    const text = value.trim().toLowerCase();
    if (/^[0-9]{1,6}(\.[0-9]{1,3})?$/.test(text)) ms = Number(text) * 1000;
    else {
      const match =
        /^(?:([0-9]{1,3})h)?(?:([0-9]{1,5})m(?!s))?(?:([0-9]{1,6}(?:\.[0-9]{1,3})?)s)?(?:([0-9]{1,9})ms)?$/.exec(text);
      if (!match || match.slice(1).every((part) => part === undefined)) throw refuse();
      const [, h, m, sec, milli] = match;
      ms =
        Number(h ?? 0) * durationUnitsMs.h! +
        Number(m ?? 0) * durationUnitsMs.m! +
        Number(sec ?? 0) * durationUnitsMs.s! +
        Number(milli ?? 0);
    }
  }
  if (!Number.isFinite(ms) || ms < 100 || ms > maxCancelAfterSeconds * 1000) throw refuse();
  return Math.round(ms);
}
/** The `webhookEvents` field: events from webhookEventFilters, comma-separated; undefined (the default, `completed`) when absent. */
export function parseWebhookEvents(text: string | undefined, hasWebhook: boolean): WebhookEventFilter[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const refuse = (message: string) =>
    new AppError('VALIDATION_FAILED', message, { details: { field: 'webhookEvents', allowed: webhookEventFilters } });
  if (!hasWebhook) throw refuse('webhookEvents needs a webhook URL.');
  const events = text.split(',').map((event) => event.trim());
  const unknown = events.filter((event) => !(webhookEventFilters as readonly string[]).includes(event));
  if (unknown.length > 0)
    throw refuse(`Unknown webhook event ${JSON.stringify(unknown[0])}: use ${webhookEventFilters.join(', ')}.`);
  return webhookEventFilters.filter((event) => events.includes(event));
}

/**
 * UNKNOWN_MODEL that says what there is: the models served here, or the versions of the model
 * named (`details.models`: name and versions of each), so a typo is fixed without another request.
 */
export async function unknownModel(models: ModelCatalog, name: string, version: string | undefined): Promise<AppError> {
  const available = (await models.list?.().catch(() => null)) ?? null;
  const details = { model: name, version, ...(available ? { models: available } : {}) };
  const named = available?.find((model) => model.name === name);
  if (version !== undefined && named) {
    return new AppError(
      'UNKNOWN_MODEL',
      `No such model: ${name}@${version}. Versions of ${name}: ${named.versions.join(', ')}.`,
      { details },
    );
  }
  const there =
    available === null
      ? ''
      : available.length === 0
        ? ' No models are served here.'
        : ` Models here: ${available.map((model) => model.name).join(', ')}.`;
  return new AppError('UNKNOWN_MODEL', `No such model: ${name}${version ? `@${version}` : ''}.${there}`, { details });
}

/** Visible ASCII, as in the IETF Idempotency-Key draft's examples. */
const idempotencyKeyPattern = /^[\x21-\x7e]+$/;
export const idempotencyWindowMs = 24 * 3600 * 1000;

/**
 * The stored key of image `index` of a batch sent with `Idempotency-Key: key`. Namespaced by
 * route: the space cannot occur in a client's key (visible ASCII only), so no single submit's key
 * (`K:0` included) can ever name a batch's image, nor the other way round.
 */
export function batchImageKey(key: string, index: number): string {
  return `batch ${key}:${index}`;
}

/** A batch's key leaves room for the `batch ` and `:<index>` each image's stored key adds. */
export function checkIdempotencyKey(key: string | undefined, maxLength: number): void {
  if (key !== undefined && (key.length > maxLength || !idempotencyKeyPattern.test(key))) {
    throw new AppError(
      'VALIDATION_FAILED',
      `The Idempotency-Key header must be 1 to ${maxLength} visible ASCII characters.`,
      { details: { header: 'Idempotency-Key' } },
    );
  }
}

/** An image sent to a tensor model. */
export function tensorModel(model: string): AppError {
  return new AppError(
    'MODEL_KIND_MISMATCH',
    `Model ${model} takes tensors, not an image: send them to POST /v2/models/${model}/infer.`,
    { details: { model, takes: 'tensors' } },
  );
}

/** The largest image the caller may send: the platform's limit, or their tier's when lower. */
export function maxUploadBytes(limits: ImageLimits, tier: Tier): number {
  return Math.min(limits.maxBytes, tier.maxUploadBytes);
}

/** The platform's image limits as the caller's tier lowers them (bytes and pixels). */
export function imageLimitsOf(limits: ImageLimits, tier: Tier): ImageLimits {
  return { ...limits, maxBytes: maxUploadBytes(limits, tier), maxPixels: Math.min(limits.maxPixels, tier.maxPixels) };
}
