import { useState } from 'react';
import type { UserView } from '@inferq/core';
import { ConfirmDialog } from './ConfirmDialog.tsx';

export interface UsersPanelProps {
  users: UserView[];
  /** The signed-in administrator: their own row has no Disable button (the API refuses it). */
  selfId: string | undefined;
  /** The user whose change is in flight: their button waits. */
  busyId?: string | undefined;
  onSetDisabled: (user: UserView, disabled: boolean) => void;
}

/**
 * Every account, with Disable and Enable. Disabling asks first (it cuts off a customer); every key
 * of a disabled user stops on its next request, and their jobs and data stay.
 */
export function UsersPanel({ users, selfId, busyId, onSetDisabled }: UsersPanelProps) {
  const [confirming, setConfirming] = useState<UserView | null>(null);
  return (
    <section className="card" aria-labelledby="users-title" data-testid="users-panel">
      <div className="card-head">
        <h2 id="users-title">Accounts</h2>
        <span className="muted small">{users.length === 1 ? '1 user' : `${users.length} users`}</span>
      </div>
      <div className="table-wrap">
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Tier</th>
              <th scope="col" className="num">
                In flight
              </th>
              <th scope="col">State</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.map((user) => (
              <tr key={user.id} data-user-id={user.id}>
                <td data-label="Email">{user.email}</td>
                <td data-label="Role">{user.role}</td>
                <td data-label="Tier">{user.tier}</td>
                <td data-label="In flight" className="num">
                  {user.jobsInFlight ?? 0}
                </td>
                <td data-label="State">
                  {user.disabledAt ? (
                    <span className="pill pill-warn">disabled</span>
                  ) : (
                    <span className="pill">active</span>
                  )}
                </td>
                <td data-label="Actions">
                  {user.disabledAt ? (
                    <button
                      type="button"
                      className="button button-small"
                      disabled={busyId === user.id}
                      onClick={() => onSetDisabled(user, false)}
                    >
                      Enable
                    </button>
                  ) : user.id === selfId ? null : (
                    <button
                      type="button"
                      className="button button-small button-danger"
                      disabled={busyId === user.id}
                      onClick={() => setConfirming(user)}
                    >
                      Disable
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ConfirmDialog
        open={confirming !== null}
        title={`Disable ${confirming?.email ?? ''}?`}
        confirmLabel="Disable the account"
        danger
        onDismiss={() => setConfirming(null)}
        onConfirm={() => {
          if (confirming) onSetDisabled(confirming, true);
          setConfirming(null);
        }}
      >
        Every API key of this account stops working on its next request. Their jobs and data stay, and Enable undoes it.
      </ConfirmDialog>
    </section>
  );
}
