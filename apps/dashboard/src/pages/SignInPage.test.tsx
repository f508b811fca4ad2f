import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionProvider } from '../auth/SessionContext.tsx';
import { clearApiKey, isKeyRemembered, loadApiKey, saveApiKey } from '../auth/keyStorage.ts';
import { SignInPage } from './SignInPage.tsx';

const goodKey = `iq_0123456789ab_${'c'.repeat(43)}`;
const account = {
  user: { id: '0b7e3c1a-0000-4000-8000-000000000000', email: 'a@b.c', role: 'user' },
  tier: {
    name: 'free',
    submitsPerWindow: 60,
    rateWindowSeconds: 60,
    maxJobsInFlight: 200,
    maxUploadBytes: 1,
    maxPixels: 1,
    maxBatchImages: 1,
    retentionDays: 7,
  },
  usage: { submitsInWindow: 0, jobsInFlight: 0 },
};

function renderSignIn() {
  render(
    <QueryClientProvider client={new QueryClient()}>
      <SessionProvider>
        <MemoryRouter initialEntries={['/sign-in']}>
          <Routes>
            <Route path="/sign-in" element={<SignInPage />} />
            <Route path="/jobs" element={<p>jobs page</p>} />
          </Routes>
        </MemoryRouter>
      </SessionProvider>
    </QueryClientProvider>,
  );
}

function typeKey(value: string) {
  fireEvent.change(screen.getByLabelText('API key'), { target: { value } });
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
}

beforeEach(() => {
  sessionStorage.clear();
  localStorage.clear();
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('SignInPage', () => {
  it('refuses a string that is not a key without sending it anywhere', async () => {
    const fetch = vi.fn();
    vi.stubGlobal('fetch', fetch);
    renderSignIn();
    typeKey('hunter2');
    expect((await screen.findByRole('alert')).getAttribute('data-code')).toBe('UNAUTHENTICATED');
    expect(fetch).not.toHaveBeenCalled();
    expect(sessionStorage.length).toBe(0);
  });

  it('keeps a key the API rejects out of storage', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () =>
          new Response(JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'no' } }), { status: 401 }),
      ),
    );
    renderSignIn();
    typeKey(goodKey);
    expect((await screen.findByRole('alert')).getAttribute('data-code')).toBe('UNAUTHENTICATED');
    expect(sessionStorage.length).toBe(0);
  });

  it('stores an accepted key in sessionStorage only and opens the jobs page', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify(account), { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    renderSignIn();
    typeKey(goodKey);
    await waitFor(() => expect(screen.getByText('jobs page')).toBeTruthy());
    expect(sessionStorage.getItem('inferq.apiKey')).toBe(goodKey);
    expect(localStorage.length).toBe(0);
    expect(String((fetch.mock.calls[0] as unknown[])[0])).toBe('/v1/account');
  });

  it('remembers the key on this device when asked: a new tab (a fresh sessionStorage) is signed in', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response(JSON.stringify(account), { status: 200 })),
    );
    renderSignIn();
    fireEvent.click(screen.getByLabelText('Remember me on this device'));
    typeKey(goodKey);
    await waitFor(() => expect(screen.getByText('jobs page')).toBeTruthy());
    expect(localStorage.getItem('inferq.apiKey')).toBe(goodKey);

    // A new tab: its own session storage is empty, the device's key signs it in.
    cleanup();
    sessionStorage.clear();
    renderSignIn();
    await waitFor(() => expect(screen.getByText('jobs page')).toBeTruthy());
    expect(sessionStorage.getItem('inferq.apiKey')).toBe(goodKey);
  });
});

describe('keyStorage', () => {
  it('forgets the remembered key on sign-out, and on a sign-in without "remember"', () => {
    saveApiKey(goodKey, sessionStorage, { remember: true });
    expect(isKeyRemembered()).toBe(true);
    clearApiKey();
    expect([sessionStorage.length, localStorage.length]).toEqual([0, 0]);
    saveApiKey(goodKey, sessionStorage, { remember: true });
    saveApiKey(goodKey, sessionStorage, { remember: false });
    expect([sessionStorage.length, localStorage.length]).toEqual([1, 0]);
    expect(loadApiKey()).toBe(goodKey);
  });
});
