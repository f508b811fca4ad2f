import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { Pager, useCursorPages } from './Pager.tsx';

afterEach(cleanup);

/** A list whose API answers page n with the next cursor `c<n+1>`, up to page 3. */
function ThreePages() {
  const pages = useCursorPages();
  const page = pages.cursor ? Number(pages.cursor.slice(1)) : 1;
  return (
    <>
      <p data-testid="asked">{pages.cursor ?? 'first'}</p>
      <button type="button" onClick={pages.reset}>
        Reset
      </button>
      <Pager {...pages.pager(page < 3 ? `c${page + 1}` : null)} />
    </>
  );
}

describe('useCursorPages with Pager', () => {
  it('follows next cursors to older pages, steps back one at a time, and resets to the first', () => {
    render(<ThreePages />);
    const asked = () => screen.getByTestId('asked').textContent;
    const older = () => screen.getByRole('button', { name: 'Older →' });
    const newer = () => screen.getByRole('button', { name: '← Newer' });
    expect(asked()).toBe('first');
    expect(newer()).toHaveProperty('disabled', true);
    fireEvent.click(older());
    fireEvent.click(older());
    expect(asked()).toBe('c3');
    expect(screen.getByText('Page 3')).toBeTruthy();
    expect(older()).toHaveProperty('disabled', true);
    fireEvent.click(newer());
    expect(asked()).toBe('c2');
    fireEvent.click(screen.getByRole('button', { name: 'Reset' }));
    expect(asked()).toBe('first');
    expect(screen.getByText('Page 1')).toBeTruthy();
  });
});
