import type { ModelRegistry } from '@inferq/models';
import type { ModelCatalog } from './jobService.ts';

/** The API's view of the model registry: it only checks names and versions, never loads a model. */
export function registryCatalog(registry: ModelRegistry): ModelCatalog {
  return {
    async resolve(name, version) {
      try {
        const resolved = await registry.resolve(name, version);
        return { name, version: resolved.manifest.version };
      } catch {
        return null;
      }
    },
  };
}
