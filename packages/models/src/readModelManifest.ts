import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { manifestFileName, parseModelManifest, type ModelManifest } from './modelManifest.ts';
import { modelNotReady } from './modelNotReady.ts';

/**
 * Where a model version's files live: a local folder holding model.json, or the http(s) URL of a
 * model.json, whose manifest.json and shards sit beside it.
 */
export type ModelLocation = string;

export interface ReadModelManifestOptions {
  /** Bound on fetching a remote manifest. @defaultValue 10000 */
  fetchTimeoutMs?: number;
  /** The fetch to use for remote locations. @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
}

export function isRemoteLocation(location: ModelLocation): boolean {
  return /^https?:\/\//i.test(location);
}

/** The URL of the manifest.json that sits beside a remote model.json. */
export function manifestUrlFor(modelJsonUrl: string): string {
  return new URL(manifestFileName, modelJsonUrl).href;
}

/**
 * Reads and validates the manifest of the model at `location`. Throws MODEL_NOT_READY with
 * `details.reason` `missing-manifest`, `fetch-failed` or `invalid-manifest`.
 */
export async function readModelManifest(location: ModelLocation, options: ReadModelManifestOptions = {}): Promise<ModelManifest> {
  return isRemoteLocation(location) ? fetchManifest(location, options) : readLocalManifest(location);
}

async function readLocalManifest(folder: string): Promise<ModelManifest> {
  const file = path.join(folder, manifestFileName);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw modelNotReady(file, 'missing-manifest', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  return parseModelManifest(parseJson(text, file), file);
}

async function fetchManifest(modelJsonUrl: string, options: ReadModelManifestOptions): Promise<ModelManifest> {
  const url = manifestUrlFor(modelJsonUrl);
  const doFetch = options.fetch ?? globalThis.fetch;
  let text: string;
  try {
    const response = await doFetch(url, { signal: AbortSignal.timeout(options.fetchTimeoutMs ?? 10_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    text = await response.text();
  } catch (error) {
    throw modelNotReady(url, 'fetch-failed', `cannot fetch ${url}: ${(error as Error).message}`, { cause: error });
  }
  return parseModelManifest(parseJson(text, url), url);
}

function parseJson(text: string, location: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw modelNotReady(location, 'invalid-manifest', `${location} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}
