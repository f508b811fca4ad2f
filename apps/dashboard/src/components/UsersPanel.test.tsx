import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { UserView } from '@inferq/core';
import { UsersPanel } from './UsersPanel.tsx';

afterEach(cleanup);

function user(id: string, email: string, disabledAt: string | null = null): UserView {
  return {
    id,
    email,
    name: null,
    role: 'user',
    tier: 'free',
    createdAt: '2026-01-01T00:00:00.000Z',
    disabledAt,
    jobsInFlight: 2,
  };
}

const self = { ...user('00000000-0000-4000-8000-000000000001', 'admin@example.com'), role: 'admin' as const };
const active = user('00000000-0000-4000-8000-000000000002', 'ada@example.com');
const disabled = user('00000000-0000-4000-8000-000000000003', 'bob@example.com', '2026-02-01T00:00:00.000Z');

function row(id: string): HTMLElement {
  return document.querySelector(`[data-user-id="${id}"]`)!;
}

describe('UsersPanel', () => {
  it('disables an account only after the confirmation, enables a disabled one at once, and offers no Disable on your own row', () => {
    const onSetDisabled = vi.fn();
    render(<UsersPanel users={[self, active, disabled]} selfId={self.id} onSetDisabled={onSetDisabled} />);
    expect(within(row(self.id)).queryByRole('button')).toBeNull();
    expect(within(row(disabled.id)).getByText('disabled')).toBeTruthy();

    fireEvent.click(within(row(active.id)).getByRole('button', { name: 'Disable' }));
    expect(onSetDisabled).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Disable the account' }));
    expect(onSetDisabled).toHaveBeenCalledWith(active, true);

    fireEvent.click(within(row(disabled.id)).getByRole('button', { name: 'Enable' }));
    expect(onSetDisabled).toHaveBeenLastCalledWith(disabled, false);
  });

  it('keeps the account when the confirmation is dismissed, and holds the button of a change in flight', () => {
    const onSetDisabled = vi.fn();
    render(
      <UsersPanel users={[active, disabled]} selfId={undefined} busyId={disabled.id} onSetDisabled={onSetDisabled} />,
    );
    fireEvent.click(within(row(active.id)).getByRole('button', { name: 'Disable' }));
    fireEvent.click(screen.getByRole('button', { name: 'Keep it' }));
    expect(onSetDisabled).not.toHaveBeenCalled();
    expect((within(row(disabled.id)).getByRole('button', { name: 'Enable' }) as HTMLButtonElement).disabled).toBe(true);
  });
});
