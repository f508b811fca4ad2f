import type { ModelRegistry } from '@inferq/models';
import type { CatalogModel, ModelCatalog } from './jobService.ts';

export interface RegistryCatalogOptions {
  /**
   * How long an answer is reused. Each resolve reads the model's folder, LIVE file and manifest,
   * which every submit would otherwise repeat; a new live version is seen within this long.
   * @defaultValue 1000
   */
  cacheMs?: number;
  /** Hand out each version's input spec, so submits make the model's pixels. @defaultValue true */
  preparePixels?: boolean;
}

/** The API's view of the model registry: names, versions and input specs; it never loads a model. */
export function registryCatalog(registry: ModelRegistry, options: RegistryCatalogOptions = {}): ModelCatalog {
  const cacheMs = options.cacheMs ?? 1000;
  const preparePixels = options.preparePixels ?? true;
  const answers = new Map<string, { at: number; answer: Promise<CatalogModel | null> }>();
  return {
    resolve(name, version) {
      const key = `${name}\0${version ?? ''}`;
      const now = performance.now();
      const cached = answers.get(key);
      if (cached && now - cached.at < cacheMs) return cached.answer;
      const answer = registry.resolve(name, version).then(
        (resolved): CatalogModel => ({ name, version: resolved.manifest.version, ...(preparePixels ? { input: resolved.manifest.input } : {}) }),
        () => null,
      );
      // Names come from requests: keep the map small however many unknown names are tried.
      if (answers.size >= 1000) answers.clear();
      answers.set(key, { at: now, answer });
      return answer;
    },
  };
}
