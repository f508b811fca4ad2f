import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import type { AccountView } from '@inferq/core';
import { ApiClient } from '../api/apiClient.ts';
import { clearApiKey, loadApiKey, saveApiKey } from './keyStorage.ts';

/** `user`: signed out on purpose; `rejected`: the API answered 401 (key revoked or user disabled). */
export type SignOutReason = 'user' | 'rejected';

export interface Session {
  client: ApiClient;
  /** Loaded at sign-in; null after a reload until the account query answers. */
  account: AccountView | null;
}

interface SessionContextValue {
  session: Session | null;
  /** Why the last session ended, for the sign-in page. */
  signedOutReason: SignOutReason | null;
  /** `remember`: keep the key on this device (localStorage) for new tabs and later visits. */
  signIn(key: string, options?: { remember?: boolean }): Promise<void>;
  signOut(reason: SignOutReason): void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

/**
 * `storage`: the tab's key store (sessionStorage); `remembered`: the device's, used when the user
 * asks to be remembered (localStorage; null: never remembered).
 */
export function SessionProvider({
  children,
  storage,
  remembered,
}: {
  children: ReactNode;
  storage?: Storage;
  remembered?: Storage | null;
}) {
  const queryClient = useQueryClient();
  const onRejected = useRef<() => void>(() => {});
  const makeClient = useCallback(
    (key: string) => new ApiClient({ apiKey: key, onUnauthorized: () => onRejected.current() }),
    [],
  );
  const [signedOutReason, setSignedOutReason] = useState<SignOutReason | null>(null);
  const [session, setSession] = useState<Session | null>(() => {
    const key = loadApiKey(storage, remembered);
    return key ? { client: makeClient(key), account: null } : null;
  });

  const signOut = useCallback(
    (reason: SignOutReason) => {
      clearApiKey(storage, remembered);
      queryClient.clear();
      setSession(null);
      setSignedOutReason(reason);
    },
    [queryClient, storage, remembered],
  );
  onRejected.current = () => signOut('rejected');

  const signIn = useCallback(
    async (key: string, options: { remember?: boolean } = {}) => {
      // Checked before it is kept: a wrong key never reaches storage.
      const account = await new ApiClient({ apiKey: key }).account();
      saveApiKey(key, storage, {
        remember: options.remember ?? false,
        ...(remembered !== undefined ? { remembered } : {}),
      });
      queryClient.clear();
      setSignedOutReason(null);
      setSession({ client: makeClient(key), account });
    },
    [makeClient, queryClient, storage, remembered],
  );

  const value = useMemo(
    () => ({ session, signedOutReason, signIn, signOut }),
    [session, signedOutReason, signIn, signOut],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

/** The signed-in session; only for pages behind the sign-in guard. */
export function useSignedIn(): Session {
  const { session } = useSession();
  if (!session) throw new Error('useSignedIn without a session');
  return session;
}
