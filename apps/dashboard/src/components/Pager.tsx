/** Cursor paging: newer goes back one page, older follows the API's next cursor. */
export function Pager({ page, hasNewer, hasOlder, onNewer, onOlder }: { page: number; hasNewer: boolean; hasOlder: boolean; onNewer: () => void; onOlder: () => void }) {
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
