/**
 * The API key lives in sessionStorage only: it survives a reload of the tab and is gone when the
 * tab closes. It never goes into a URL, localStorage, a cookie or a log.
 */
const storageKey = 'inferq.apiKey';

export function loadApiKey(storage: Storage = sessionStorage): string | null {
  try {
    return storage.getItem(storageKey);
  } catch {
    return null;
  }
}

export function saveApiKey(key: string, storage: Storage = sessionStorage): void {
  storage.setItem(storageKey, key);
}

export function clearApiKey(storage: Storage = sessionStorage): void {
  storage.removeItem(storageKey);
}

/** The shape of an InferQ key (iq_<12 hex>_<43 base64url>); checked before any request. */
export function looksLikeApiKey(value: string): boolean {
  return /^iq_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/.test(value.trim());
}
