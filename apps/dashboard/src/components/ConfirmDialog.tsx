import { useEffect, useId, useRef, type ReactNode } from 'react';

export interface ConfirmDialogProps {
  open: boolean;
  title: string;
  children?: ReactNode;
  /** The button that does it, named for what it does ("Cancel the job"), never just "OK". */
  confirmLabel: string;
  /** @defaultValue 'Keep it' */
  dismissLabel?: string;
  /** A red confirm button: the action cannot be undone. @defaultValue false */
  danger?: boolean;
  /** While the action runs: both buttons wait. @defaultValue false */
  busy?: boolean;
  /** Off while the form inside is not ready (nothing to delete yet). @defaultValue true */
  canConfirm?: boolean;
  onConfirm: () => void;
  onDismiss: () => void;
}

/**
 * A modal question before an action that cannot be undone (cancel a job, delete jobs), on the
 * browser's own <dialog>: focus moves into it and stays there, Escape dismisses it, and the page
 * behind is inert while it is open.
 */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  dismissLabel = 'Keep it',
  danger = false,
  busy = false,
  canConfirm = true,
  onConfirm,
  onDismiss,
}: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);

  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault();
        if (!busy) onDismiss();
      }}
    >
      {open && (
        <form
          method="dialog"
          className="dialog-body"
          onSubmit={(event) => {
            event.preventDefault();
            if (!busy && canConfirm) onConfirm();
          }}
        >
          <h2 id={titleId}>{title}</h2>
          {children && <div className="dialog-text">{children}</div>}
          <div className="dialog-actions">
            <button type="button" className="button" onClick={onDismiss} disabled={busy} autoFocus>
              {dismissLabel}
            </button>
            <button
              type="submit"
              className={`button ${danger ? 'button-danger-solid' : 'button-primary'}`}
              disabled={busy || !canConfirm}
            >
              {busy ? 'Working…' : confirmLabel}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
