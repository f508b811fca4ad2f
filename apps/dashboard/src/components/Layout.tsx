import { useQuery } from '@tanstack/react-query';
import { NavLink, Outlet } from 'react-router';
import { useSession, useSignedIn } from '../auth/SessionContext.tsx';
import { useLiveState } from '../live/LiveEventsProvider.tsx';

const liveLabels = {
  live: 'Live',
  connecting: 'Connecting…',
  offline: 'Reconnecting…',
  unauthorized: 'Signed out',
} as const;

export function Layout() {
  const { signOut } = useSession();
  const { client, account: signInAccount } = useSignedIn();
  const live = useLiveState();
  const account = useQuery({
    queryKey: ['account'],
    queryFn: ({ signal }) => client.account(signal),
    initialData: signInAccount ?? undefined,
    staleTime: 10_000,
  });
  const isAdmin = account.data?.user.role === 'admin';

  return (
    <div className="app">
      <header className="topbar">
        <div className="topbar-inner">
          <NavLink to="/jobs" className="brand">
            <span className="brand-mark" aria-hidden="true" />
            InferQ
          </NavLink>
          <nav className="nav" aria-label="Main">
            <NavLink to="/jobs">Jobs</NavLink>
            {isAdmin && <NavLink to="/operations">Operations</NavLink>}
          </nav>
          <div className="topbar-right">
            <span
              className={`live live-${live}`}
              data-testid="live-state"
              data-state={live}
              title="Live updates from the API"
            >
              <span className="live-dot" aria-hidden="true" />
              <span className="live-label">{liveLabels[live]}</span>
            </span>
            {account.data && (
              <span className="who" title={account.data.user.email}>
                {account.data.user.email}
              </span>
            )}
            <button type="button" className="button button-small" onClick={() => signOut('user')}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main className="main">
        <Outlet />
      </main>
    </div>
  );
}
