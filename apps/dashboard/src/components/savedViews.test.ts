import { describe, expect, it } from 'vitest';
import { deleteView, filterQuery, loadViews, noFilters, parseMetadataFilter, saveView } from './savedViews.ts';

function memoryStorage() {
  const items = new Map<string, string>();
  return {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
  };
}

describe('saved views', () => {
  it('saves, replaces by name, lists by name and deletes', () => {
    const storage = memoryStorage();
    saveView(
      { name: 'timeouts', view: 'failed', userId: '', filters: { ...noFilters, errorCode: 'TIMEOUT' } },
      storage,
    );
    saveView(
      { name: 'acme', view: 'all', userId: 'u1', filters: { ...noFilters, metadata: 'customer=acme' } },
      storage,
    );
    saveView(
      { name: 'timeouts', view: 'failed', userId: '', filters: { ...noFilters, errorCode: 'TIMEOUT', model: 'nsfw' } },
      storage,
    );
    expect(loadViews(storage).map((view) => [view.name, view.filters.model])).toEqual([
      ['acme', ''],
      ['timeouts', 'nsfw'],
    ]);
    expect(deleteView('acme', storage).map((view) => view.name)).toEqual(['timeouts']);
  });

  it('reads nothing from a broken entry', () => {
    const storage = memoryStorage();
    storage.setItem('inferq.adminJobViews', '{not json');
    expect(loadViews(storage)).toEqual([]);
  });
});

describe('filterQuery', () => {
  it("turns the filter bar into the search's query fields", () => {
    const now = Date.UTC(2026, 11, 6, 12);
    expect(
      filterQuery(
        { q: ' cus_42 ', model: 'nsfw', errorCode: '', metadata: 'customer = acme, order=A-1, junk', since: 'day' },
        now,
      ),
    ).toEqual({
      q: 'cus_42',
      model: 'nsfw',
      createdAfter: '2026-12-05T12:00:00.000Z',
      metadata: { customer: 'acme', order: 'A-1' },
    });
    expect(filterQuery(noFilters, now)).toEqual({});
    expect(parseMetadataFilter('a=b=c')).toEqual({ a: 'b=c' });
  });
});
