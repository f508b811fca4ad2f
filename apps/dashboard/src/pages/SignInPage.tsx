import { useState, type FormEvent } from 'react';
import { Navigate, useLocation } from 'react-router';
import { useSession } from '../auth/SessionContext.tsx';
import { looksLikeApiKey } from '../auth/keyStorage.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { ApiError } from '../api/apiTransport.ts';

export function SignInPage() {
  const { session, signIn, signedOutReason } = useSession();
  const location = useLocation();
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [remember, setRemember] = useState(false);

  if (session) {
    const from = (location.state as { from?: string } | null)?.from;
    return <Navigate to={from && from !== '/sign-in' ? from : '/jobs'} replace />;
  }

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (!looksLikeApiKey(trimmed)) {
      setError(
        new ApiError(
          401,
          'UNAUTHENTICATED',
          'That is not an InferQ API key: keys look like iq_<12 characters>_<43 characters>.',
        ),
      );
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await signIn(trimmed, { remember });
    } catch (caught) {
      setError(
        caught instanceof ApiError && caught.status === 401
          ? new ApiError(401, 'UNAUTHENTICATED', 'This key was not accepted: it may be revoked or mistyped.')
          : caught,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={onSubmit} method="post" autoComplete="off" noValidate>
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true" />
          InferQ
        </div>
        <h1>Sign in</h1>
        <p className="muted">Follow your inference jobs live. Operators see the whole platform.</p>
        {signedOutReason === 'rejected' && !error && (
          <div className="notice notice-warn" role="status" data-code="UNAUTHENTICATED">
            <strong>Signed out</strong>
            <span>The API no longer accepts your key. Sign in with a valid one.</span>
          </div>
        )}
        {signedOutReason === 'user' && !error && (
          <div className="notice notice-info" role="status">
            Signed out. Your key was removed from this browser.
          </div>
        )}
        <label className="field">
          <span className="field-label">API key</span>
          <input
            name="apiKey"
            type="password"
            autoComplete="off"
            spellCheck={false}
            placeholder="iq_…"
            value={key}
            onChange={(event) => setKey(event.target.value)}
            autoFocus
            required
          />
        </label>
        <label className="field-check">
          <input
            type="checkbox"
            name="remember"
            checked={remember}
            onChange={(event) => setRemember(event.target.checked)}
          />
          <span>Remember me on this device</span>
        </label>
        {error !== null && <ErrorNotice error={error} />}
        <button type="submit" className="button button-primary button-block" disabled={busy || key.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <p className="muted small">
          The key is sent only in the Authorization header. It stays in this browser tab only (session storage), and
          closing the tab forgets it; remembered, it stays in this browser (local storage) for new tabs and later visits
          until you sign out. Leave it off on a shared computer.
        </p>
      </form>
    </main>
  );
}
