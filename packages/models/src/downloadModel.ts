import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import type { LookupFunction } from 'node:net';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '@inferq/core';
import { checkOutboundUrl, createOutboundAgent, isOutboundRefused, type OutboundPolicy } from '@inferq/outbound';
import { request, type Dispatcher } from 'undici';
import { tfjsWeightGroups } from './checkModelFiles.ts';
import { modelJsonFileName, onnxFileName, type ModelFormat } from './modelManifest.ts';

export interface DownloadModelOptions {
  /** An empty folder the files are written into (see ModelRegistry.createStagingFolder). */
  into: string;
  /** The model's format; decides which files are fetched. @defaultValue 'layers' */
  format?: ModelFormat;
  /** Which hosts may be reached. @defaultValue https to public addresses only */
  policy?: OutboundPolicy;
  /** Name resolution; its answers are checked before connecting. @defaultValue dns.lookup */
  lookup?: LookupFunction;
  /** The whole download (model.json and every shard) must finish within this. @defaultValue 300000 */
  deadlineMs?: number;
  /** Refuse a model whose files add up to more than this many bytes. @defaultValue 512 MiB */
  maxBytes?: number;
  /** Refuse a model.json larger than this. @defaultValue 32 MiB */
  maxModelJsonBytes?: number;
  /** Shards fetched at once. @defaultValue 4 */
  concurrency?: number;
}

/** Why a download was refused; carried in `details.reason` of the VALIDATION_FAILED it throws. */
export type DownloadRefusal =
  | 'malformed'
  | 'credentials'
  | 'not_https'
  | 'private_address'
  | 'redirect'
  | 'not_found'
  | 'http_status'
  | 'too_large'
  | 'timeout'
  | 'fetch_failed'
  | 'not_json'
  | 'unsupported_format';

function refused(reason: DownloadRefusal, message: string, extra: Record<string, unknown> = {}): AppError {
  return new AppError('VALIDATION_FAILED', message, { details: { field: 'url', reason, ...extra } });
}

/**
 * Downloads the TF.js model at `modelJsonUrl` (model.json, then the shards it names, resolved
 * against it) into `options.into`, for ModelRegistry.publishFolder to check, hash and move
 * into place.
 *
 * Safe against the URL's owner and against whatever answers: every connection obeys the outbound
 * policy (public addresses only by default, checked on the resolved address when connecting); a
 * redirect is refused, never followed; each file streams to disk against its `Content-Length`
 * and a running count of all bytes, stopped the moment it passes `maxBytes`; a few shards are
 * fetched at a time; one deadline bounds the whole download. Errors say what was wrong (a status
 * number, a size, a reason) and never what the remote answered. Throws VALIDATION_FAILED with
 * `details.reason` a {@link DownloadRefusal}, or one of model.json's checks.
 */
export async function downloadModel(modelJsonUrl: string, options: DownloadModelOptions): Promise<{ paths: string[]; bytes: number }> {
  const format = options.format ?? 'layers';
  if (format !== 'layers' && format !== 'graph' && format !== 'onnx') throw refused('unsupported_format', `a ${format} model cannot be registered by URL`);
  const policy = options.policy ?? {};
  let url: URL;
  try {
    url = checkOutboundUrl(modelJsonUrl, policy);
  } catch (error) {
    if (!isOutboundRefused(error)) throw error;
    throw refused(error.reason, `the model URL is refused: ${error.reason.replaceAll('_', ' ')}`);
  }
  const deadlineMs = options.deadlineMs ?? 300_000;
  const budget = { left: options.maxBytes ?? 512 * 1024 ** 2, max: options.maxBytes ?? 512 * 1024 ** 2 };
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(), deadlineMs);
  const agent = createOutboundAgent(policy, options.lookup ? { lookup: options.lookup } : {});
  const fetchOne = (fileUrl: URL, file: string, maxBytes: number) => fetchToFile(fileUrl, path.join(options.into, ...file.split('/')), { file, agent, signal: controller.signal, budget, maxBytes, deadlineMs });
  try {
    if (format === 'onnx') {
      // One file, weights inside: the URL is the .onnx itself, checked by publishFolder.
      await fetchOne(url, onnxFileName, Number.POSITIVE_INFINITY);
      return { paths: [onnxFileName], bytes: budget.max - budget.left };
    }
    await fetchOne(url, modelJsonFileName, options.maxModelJsonBytes ?? 32 * 1024 ** 2);
    let modelJson: unknown;
    try {
      modelJson = JSON.parse(await readFile(path.join(options.into, modelJsonFileName), 'utf8'));
    } catch {
      throw refused('not_json', 'model.json is not valid JSON');
    }
    // Checked before any shard is fetched: a document that is no model costs one request.
    const shards = tfjsWeightGroups(modelJson, format).flatMap((group) => group.paths);
    const queue = [...shards];
    const concurrency = Math.max(1, options.concurrency ?? 4);
    const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let shard = queue.shift(); shard !== undefined; shard = queue.shift()) {
        if (controller.signal.aborted) return;
        await fetchOne(new URL(shard, url), shard, Number.POSITIVE_INFINITY);
      }
    });
    // The first failure stops the rest at once; all are settled before the caller removes the folder.
    let failure: unknown;
    await Promise.all(
      workers.map((worker) =>
        worker.catch((error: unknown) => {
          failure ??= error;
          controller.abort();
        }),
      ),
    );
    if (failure !== undefined) throw failure;
    return { paths: [modelJsonFileName, ...shards], bytes: budget.max - budget.left };
  } catch (error) {
    if (controller.signal.aborted && !(error instanceof AppError)) throw refused('timeout', `the model did not download within ${deadlineMs} ms`);
    throw error;
  } finally {
    clearTimeout(deadline);
    controller.abort();
    await agent.destroy().catch(() => {});
  }
}

interface FetchToFileOptions {
  file: string;
  agent: Dispatcher;
  signal: AbortSignal;
  budget: { left: number; max: number };
  /** This file's own bound, besides the budget shared by all files. */
  maxBytes: number;
  deadlineMs: number;
}

async function fetchToFile(url: URL, target: string, options: FetchToFileOptions): Promise<number> {
  const { file, budget } = options;
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { method: 'GET', dispatcher: options.agent, signal: options.signal, headers: { accept: 'application/json, application/octet-stream' } });
  } catch (error) {
    throw connectFailure(error, file, options);
  }
  const { statusCode, headers, body } = response;
  const tooLarge = () => refused('too_large', `the model's files are larger than ${budget.max} bytes`, { file, maxBytes: budget.max });
  try {
    if (statusCode >= 300 && statusCode < 400) throw refused('redirect', `${file} answered with a redirect (HTTP ${statusCode}); give the URL it points to`, { file, status: statusCode });
    if (statusCode === 404 || statusCode === 410) throw refused('not_found', `${file} was not found (HTTP ${statusCode})`, { file, status: statusCode });
    if (statusCode < 200 || statusCode >= 300) throw refused('http_status', `${file} answered HTTP ${statusCode}`, { file, status: statusCode });
    const declared = Number(headers['content-length']);
    if (Number.isFinite(declared) && (declared > budget.left || declared > options.maxBytes)) throw tooLarge();
  } catch (error) {
    await body.dump({ limit: 0 }).catch(() => {});
    throw error;
  }
  let written = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      written += chunk.length;
      budget.left -= chunk.length;
      if (budget.left < 0 || written > options.maxBytes) callback(tooLarge());
      else callback(null, chunk);
    },
  });
  await mkdir(path.dirname(target), { recursive: true });
  try {
    await pipeline(body, counter, createWriteStream(target, { flags: 'wx' }));
  } catch (error) {
    await rm(target, { force: true });
    if (error instanceof AppError) throw error;
    throw connectFailure(error, file, options);
  }
  return written;
}

function connectFailure(error: unknown, file: string, options: FetchToFileOptions): AppError {
  const cause = (error as { cause?: unknown }).cause;
  if (isOutboundRefused(error) || isOutboundRefused(cause)) return refused('private_address', 'the model URL is refused: private address', { file });
  if (options.signal.aborted) return refused('timeout', `the model did not download within ${options.deadlineMs} ms`, { file });
  const code = (error as NodeJS.ErrnoException).code ?? (cause as NodeJS.ErrnoException | undefined)?.code;
  const what = code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'the host name does not resolve' : code === 'ECONNREFUSED' ? 'the connection was refused' : 'the connection failed';
  return refused('fetch_failed', `cannot fetch ${file}: ${what}`, { file });
}
