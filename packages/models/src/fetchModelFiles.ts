import { modelJsonFileName, onnxFileName } from './modelManifest.ts';
import { modelNotReady } from './modelNotReady.ts';
import { weightPathsOf, type ModelFile } from './computeModelHash.ts';

export interface FetchModelFilesOptions {
  /** Bound on each http(s) request. @defaultValue 30000 */
  fetchTimeoutMs?: number;
  /** The fetch to use. @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
  /** Refuse a model whose files add up to more than this many bytes. @defaultValue 1 GiB */
  maxBytes?: number;
}

/**
 * model.json at `modelJsonUrl` and the weight shards it names (relative to it), in the order
 * `hashModelFiles` hashes them. Throws MODEL_NOT_READY: `missing-model-json` / `missing-weights`
 * on 404, `fetch-failed` on other failures, `invalid-model-json`.
 */
export async function fetchModelFiles(modelJsonUrl: string, options: FetchModelFilesOptions = {}): Promise<ModelFile[]> {
  const budget = { left: options.maxBytes ?? 1024 ** 3 };
  const modelJsonBytes = await fetchBytes(modelJsonUrl, 'missing-model-json', options, budget);
  let modelJson: unknown;
  try {
    modelJson = JSON.parse(Buffer.from(modelJsonBytes).toString('utf8'));
  } catch (error) {
    throw modelNotReady(modelJsonUrl, 'invalid-model-json', `model.json at ${modelJsonUrl} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const weightPaths = weightPathsOf(modelJson, modelJsonUrl);
  const shards = await Promise.all(weightPaths.map((p) => fetchBytes(new URL(p, modelJsonUrl).href, 'missing-weights', options, budget)));
  return [{ path: modelJsonFileName, bytes: modelJsonBytes }, ...weightPaths.map((p, i) => ({ path: p, bytes: shards[i] as Uint8Array }))];
}

/** The ONNX file at `url` (one file: weights inside it), under the same bounds as {@link fetchModelFiles}. */
export async function fetchOnnxFile(url: string, options: FetchModelFilesOptions = {}): Promise<ModelFile> {
  return { path: onnxFileName, bytes: await fetchBytes(url, 'missing-model-json', options, { left: options.maxBytes ?? 1024 ** 3 }) };
}

async function fetchBytes(url: string, missing: 'missing-model-json' | 'missing-weights', options: FetchModelFilesOptions, budget: { left: number }): Promise<Uint8Array> {
  const doFetch = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await doFetch(url, { signal: AbortSignal.timeout(options.fetchTimeoutMs ?? 30_000) });
  } catch (error) {
    throw modelNotReady(url, 'fetch-failed', `cannot fetch ${url}: ${(error as Error).message}`, { cause: error });
  }
  if (response.status === 404 || response.status === 410) throw modelNotReady(url, missing, `${url} answered HTTP ${response.status}`);
  if (!response.ok) throw modelNotReady(url, 'fetch-failed', `${url} answered HTTP ${response.status}`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw modelNotReady(url, 'fetch-failed', `cannot read ${url}: ${(error as Error).message}`, { cause: error });
  }
  budget.left -= bytes.byteLength;
  if (budget.left < 0) throw modelNotReady(url, 'fetch-failed', `the model's files at ${url} are larger than allowed`);
  return bytes;
}
