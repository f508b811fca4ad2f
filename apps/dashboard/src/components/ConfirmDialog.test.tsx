import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfirmDialog } from './ConfirmDialog.tsx';

afterEach(cleanup);

function renderDialog(props: Partial<Parameters<typeof ConfirmDialog>[0]> = {}) {
  const onConfirm = vi.fn();
  const onDismiss = vi.fn();
  const view = render(
    <ConfirmDialog
      open
      title="Cancel this job?"
      confirmLabel="Cancel the job"
      onConfirm={onConfirm}
      onDismiss={onDismiss}
      {...props}
    >
      It leaves the queue.
    </ConfirmDialog>,
  );
  return { onConfirm, onDismiss, view };
}

describe('ConfirmDialog', () => {
  it('asks with a named action and does it only when that button is pressed', () => {
    const { onConfirm, onDismiss } = renderDialog();
    expect(screen.getByText('It leaves the queue.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Keep it', hidden: true }));
    expect(onDismiss).toHaveBeenCalledTimes(1);
    expect(onConfirm).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel the job', hidden: true }));
    expect(onConfirm).toHaveBeenCalledTimes(1);
  });

  it('holds both buttons while the action runs, and the confirm one while the form is not ready', () => {
    const { onConfirm } = renderDialog({ busy: true });
    expect(screen.getByRole('button', { name: 'Working…', hidden: true })).toHaveProperty('disabled', true);
    expect(screen.getByRole('button', { name: 'Keep it', hidden: true })).toHaveProperty('disabled', true);
    cleanup();
    renderDialog({ canConfirm: false, onConfirm });
    const confirm = screen.getByRole('button', { name: 'Cancel the job', hidden: true });
    expect(confirm).toHaveProperty('disabled', true);
    fireEvent.submit(confirm.closest('form')!);
    expect(onConfirm).not.toHaveBeenCalled();
  });

  it('shows nothing while closed', () => {
    renderDialog({ open: false });
    expect(screen.queryByText('It leaves the queue.')).toBeNull();
  });
});
