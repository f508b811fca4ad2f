import { useState } from 'react';

export interface PagerProps {
  page: number;
  hasNewer: boolean;
  hasOlder: boolean;
  onNewer: () => void;
  onOlder: () => void;
}

/**
 * The page state of a cursor-paged list: `cursor` is the one to ask for, `reset` goes back to the
 * first page (on a new filter), `pager(nextCursor)` gives the {@link Pager}'s props for the page shown.
 */
export function useCursorPages() {
  // Cursors of the pages before this one; the first page has none.
  const [cursors, setCursors] = useState<string[]>([]);
  return {
    cursor: cursors.at(-1),
    reset: () => setCursors([]),
    pager: (nextCursor: string | null): PagerProps => ({
      page: cursors.length + 1,
      hasNewer: cursors.length > 0,
      hasOlder: Boolean(nextCursor),
      onNewer: () => setCursors((stack) => stack.slice(0, -1)),
      onOlder: () => nextCursor && setCursors((stack) => [...stack, nextCursor]),
    }),
  };
}

/** Cursor paging: newer goes back one page, older follows the API's next cursor. */
export function Pager({ page, hasNewer, hasOlder, onNewer, onOlder }: PagerProps) {
  if (!hasNewer && !hasOlder) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" className="button" disabled={!hasNewer} onClick={onNewer}>
        ← Newer
      </button>
      <span className="muted small">Page {page}</span>
      <button type="button" className="button" disabled={!hasOlder} onClick={onOlder}>
        Older →
      </button>
    </nav>
  );
}
