import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionProvider } from '../auth/SessionContext.tsx';
import { SignInPage } from './SignInPage.tsx';

const goodKey = `iq_0123456789ab_${'c'.repeat(43)}`;

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

beforeEach(() => sessionStorage.clear());
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
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'no' } }), { status: 401 })));
    renderSignIn();
    typeKey(goodKey);
    expect((await screen.findByRole('alert')).getAttribute('data-code')).toBe('UNAUTHENTICATED');
    expect(sessionStorage.length).toBe(0);
  });

  it('stores an accepted key in sessionStorage only and opens the jobs page', async () => {
    const account = {
      user: { id: '0b7e3c1a-0000-4000-8000-000000000000', email: 'a@b.c', role: 'user' },
      tier: { name: 'free', submitsPerWindow: 60, rateWindowSeconds: 60, maxJobsInFlight: 200, maxUploadBytes: 1, maxPixels: 1, maxBatchImages: 1, retentionDays: 7 },
      usage: { submitsInWindow: 0, jobsInFlight: 0 },
    };
    const fetch = vi.fn(async () => new Response(JSON.stringify(account), { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    renderSignIn();
    typeKey(goodKey);
    await waitFor(() => expect(screen.getByText('jobs page')).toBeTruthy());
    expect(sessionStorage.getItem('inferq.apiKey')).toBe(goodKey);
    expect(localStorage.length).toBe(0);
    expect(String((fetch.mock.calls[0] as unknown[])[0])).toBe('/v1/account');
  });
});
