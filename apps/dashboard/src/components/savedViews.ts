/**
 * The operators' search filters, and views saved under a name in the browser (localStorage): a
 * view is only a filter, never data, so keeping it per browser loses nothing.
 */
export interface JobFilters {
  /** Free text: the job id, the file name or a metadata value (3 characters or more). */
  q: string;
  model: string;
  errorCode: string;
  /** `key=value` pairs, comma-separated. */
  metadata: string;
  /** Jobs submitted in the last hour, day or week; '' for any time. */
  since: '' | 'hour' | 'day' | 'week';
}

export interface SavedView {
  name: string;
  /** The status chip's key (failed, unfinished, …). */
  view: string;
  userId: string;
  filters: JobFilters;
}

export const noFilters: JobFilters = { q: '', model: '', errorCode: '', metadata: '', since: '' };

const storageKey = 'inferq.adminJobViews';
const sinceMs = { hour: 3600_000, day: 86_400_000, week: 7 * 86_400_000 } as const;

/** `a=1, b=2` as `{ a: '1', b: '2' }`; a part without `=` is left out. */
export function parseMetadataFilter(text: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const part of text.split(',')) {
    const equals = part.indexOf('=');
    if (equals > 0)
      Object.defineProperty(pairs, part.slice(0, equals).trim(), {
        value: part.slice(equals + 1).trim(),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return pairs;
}

/** The filters as the API's query fields (empty ones left out). */
export function filterQuery(
  filters: JobFilters,
  now = Date.now(),
): { q?: string; model?: string; errorCode?: string; createdAfter?: string; metadata?: Record<string, string> } {
  const metadata = parseMetadataFilter(filters.metadata);
  return {
    ...(filters.q.trim() ? { q: filters.q.trim() } : {}),
    ...(filters.model.trim() ? { model: filters.model.trim() } : {}),
    ...(filters.errorCode.trim() ? { errorCode: filters.errorCode.trim() } : {}),
    ...(filters.since ? { createdAfter: new Date(now - sinceMs[filters.since]).toISOString() } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
  };
}

export function loadViews(storage: Pick<Storage, 'getItem'> = localStorage): SavedView[] {
  try {
    const parsed = JSON.parse(storage.getItem(storageKey) ?? '[]') as unknown;
    return Array.isArray(parsed)
      ? (parsed as SavedView[]).filter((view) => typeof view?.name === 'string' && typeof view.filters === 'object')
      : [];
  } catch {
    return [];
  }
}

/** Saves a view, replacing one of the same name; returns the list as stored. */
export function saveView(view: SavedView, storage: Pick<Storage, 'getItem' | 'setItem'> = localStorage): SavedView[] {
  const views = [...loadViews(storage).filter((entry) => entry.name !== view.name), view].sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  storage.setItem(storageKey, JSON.stringify(views));
  return views;
}

export function deleteView(name: string, storage: Pick<Storage, 'getItem' | 'setItem'> = localStorage): SavedView[] {
  const views = loadViews(storage).filter((entry) => entry.name !== name);
  storage.setItem(storageKey, JSON.stringify(views));
  return views;
}
