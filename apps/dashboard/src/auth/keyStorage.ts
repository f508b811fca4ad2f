/**
 * The API key lives in sessionStorage: it survives a reload of the tab and is gone when the tab
 * closes. "Remember me on this device" also keeps it in localStorage, so new tabs and later visits
 * are signed in, until the user signs out (which clears both) or the API rejects the key. It never
 * goes into a URL, a cookie or a log.
 */
const storageKey = 'inferq.apiKey';

function read(storage: Storage): string | null {
  try {
    return storage.getItem(storageKey);
  } catch {
    return null;
  }
}

/** The tab's key, else the remembered one (copied into the tab, so this tab keeps it if another signs out). */
export function loadApiKey(
  storage: Storage = sessionStorage,
  remembered: Storage | null = localStorageOrNull(),
): string | null {
  const key = read(storage);
  if (key !== null) return key;
  const kept = remembered ? read(remembered) : null;
  if (kept !== null) {
    try {
      storage.setItem(storageKey, kept);
    } catch {
      // A tab without session storage still works from the remembered key.
    }
  }
  return kept;
}

/** Keeps the key for this tab, and on this device too when `remember` is set (else forgets any remembered one). */
export function saveApiKey(
  key: string,
  storage: Storage = sessionStorage,
  options: { remember?: boolean; remembered?: Storage | null } = {},
): void {
  storage.setItem(storageKey, key);
  const remembered = options.remembered === undefined ? localStorageOrNull() : options.remembered;
  if (!remembered) return;
  if (options.remember) remembered.setItem(storageKey, key);
  else remembered.removeItem(storageKey);
}

/** Forgets the key in this tab and on this device. */
export function clearApiKey(
  storage: Storage = sessionStorage,
  remembered: Storage | null = localStorageOrNull(),
): void {
  storage.removeItem(storageKey);
  remembered?.removeItem(storageKey);
}

/** Whether this device remembers a key. */
export function isKeyRemembered(remembered: Storage | null = localStorageOrNull()): boolean {
  return remembered !== null && read(remembered) !== null;
}

function localStorageOrNull(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

/** The shape of an InferQ key (iq_<12 hex>_<43 base64url>); checked before any request. */
export function looksLikeApiKey(value: string): boolean {
  return /^iq_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/.test(value.trim());
}
