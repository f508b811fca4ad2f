import { act, cleanup, fireEvent, render, renderHook, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JobView } from '@inferq/core';
import { SessionProvider } from './auth/SessionContext.tsx';
import { JobThumbnail } from './components/JobThumbnail.tsx';
import { JobImage } from './pages/JobDetailPage.tsx';
import { useJobImageUrl } from './useJobImageUrl.ts';

afterEach(cleanup);

const key = `iq_0123456789ab_${'a'.repeat(43)}`;
const job = (id: string) => ({ id, input: { format: 'avif' } }) as JobView;

/** The API as the page's fetch sees it: every image request answered by `answer`, each URL handed out by createObjectURL counted. */
function stubApi(
  answer: (url: string) => Response = () =>
    new Response(new Uint8Array([1, 2, 3]), { headers: { 'Content-Type': 'image/webp' } }),
) {
  const fetch = vi.spyOn(globalThis, 'fetch').mockImplementation(async (url) => answer(String(url)));
  let made = 0;
  const create = vi.spyOn(URL, 'createObjectURL').mockImplementation(() => `blob:test/${++made}`);
  const revoke = vi.spyOn(URL, 'revokeObjectURL').mockImplementation(() => {});
  return { fetch, create, revoke };
}

function wrapper({ children }: { children: ReactNode }) {
  const storage = { getItem: () => key, setItem: () => {}, removeItem: () => {} } as unknown as Storage;
  return (
    <QueryClientProvider client={new QueryClient()}>
      <SessionProvider storage={storage}>{children}</SessionProvider>
    </QueryClientProvider>
  );
}

const notFound = () =>
  new Response(JSON.stringify({ error: { code: 'JOB_NOT_FOUND', message: 'No such job.' } }), {
    status: 404,
    headers: { 'Content-Type': 'application/json' },
  });

describe('useJobImageUrl', () => {
  let api: ReturnType<typeof stubApi>;
  beforeEach(() => {
    api = stubApi();
  });

  it('reads the image with the key, not in the URL, and revokes its object URL on unmount', async () => {
    const { result, unmount } = renderHook(() => useJobImageUrl('job-1', 88), { wrapper });
    expect(result.current.url).toBeNull();
    expect(result.current.isPending).toBe(true);
    await waitFor(() => expect(result.current.url).toBe('blob:test/1'));
    expect(api.fetch).toHaveBeenCalledTimes(1);
    const [url, init] = api.fetch.mock.calls[0]!;
    expect(String(url)).toBe('/v1/jobs/job-1/image?size=88');
    expect((init?.headers as Record<string, string>).Authorization).toBe(`Bearer ${key}`);
    expect((api.create.mock.calls[0]![0] as Blob).size).toBe(3);
    expect(api.revoke).not.toHaveBeenCalled();

    unmount();
    expect(api.revoke.mock.calls).toEqual([['blob:test/1']]);
  });

  it('asks for the image as stored when no size is given', async () => {
    const { result } = renderHook(() => useJobImageUrl('job-1'), { wrapper });
    await waitFor(() => expect(result.current.url).not.toBeNull());
    expect(String(api.fetch.mock.calls[0]![0])).toBe('/v1/jobs/job-1/image');
  });

  it('revokes the previous job’s URL when the job changes, and only that one', async () => {
    const { result, rerender, unmount } = renderHook(({ id }) => useJobImageUrl(id, 88), {
      wrapper,
      initialProps: { id: 'job-1' },
    });
    await waitFor(() => expect(result.current.url).toBe('blob:test/1'));
    rerender({ id: 'job-2' });
    await waitFor(() => expect(result.current.url).toBe('blob:test/2'));
    expect(api.fetch.mock.calls.map(([url]) => String(url))).toEqual([
      '/v1/jobs/job-1/image?size=88',
      '/v1/jobs/job-2/image?size=88',
    ]);
    expect(api.revoke.mock.calls).toEqual([['blob:test/1']]);
    unmount();
    expect(api.revoke.mock.calls).toEqual([['blob:test/1'], ['blob:test/2']]);
  });

  it('never hands out the revoked URL of the previous job while the next one loads, nor its broken mark', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    api.fetch.mockImplementation(async (url) => {
      if (String(url).includes('job-2')) await held;
      return new Response(new Uint8Array([1, 2, 3]), { headers: { 'Content-Type': 'image/webp' } });
    });
    const seen: Array<string | null> = [];
    const { result, rerender } = renderHook(
      ({ id }) => {
        const image = useJobImageUrl(id);
        seen.push(image.url);
        return image;
      },
      { wrapper, initialProps: { id: 'job-1' } },
    );
    await waitFor(() => expect(result.current.url).toBe('blob:test/1'));
    act(() => result.current.markBroken());
    expect(result.current.broken).toBe(true);
    seen.length = 0;
    rerender({ id: 'job-2' });
    expect(result.current.url).toBeNull();
    expect(result.current.broken).toBe(false);
    release();
    await waitFor(() => expect(result.current.url).toBe('blob:test/2'));
    expect(seen).not.toContain('blob:test/1');
    expect(result.current.broken).toBe(false);
  });

  it('reports a refused read as its ApiError, once (no retry), and makes no URL', async () => {
    api.fetch.mockImplementation(async () => notFound());
    const { result } = renderHook(() => useJobImageUrl('job-1'), { wrapper });
    await waitFor(() => expect(result.current.error).toMatchObject({ status: 404, code: 'JOB_NOT_FOUND' }));
    expect(result.current.url).toBeNull();
    expect(result.current.isPending).toBe(false);
    expect(api.fetch).toHaveBeenCalledTimes(1);
    expect(api.create).not.toHaveBeenCalled();
  });

  it('stays broken once the <img> could not draw the bytes', async () => {
    const { result } = renderHook(() => useJobImageUrl('job-1'), { wrapper });
    await waitFor(() => expect(result.current.url).not.toBeNull());
    expect(result.current.broken).toBe(false);
    act(() => result.current.markBroken());
    expect(result.current.broken).toBe(true);
  });
});

describe('JobThumbnail and JobImage', () => {
  it('draw the image through its object URL', async () => {
    stubApi();
    render(
      <>
        <JobThumbnail job={job('job-1')} />
        <JobImage job={job('job-1')} />
      </>,
      { wrapper },
    );
    expect((await screen.findByTestId('job-thumbnail')).getAttribute('src')).toMatch(/^blob:test\/\d$/);
    expect((await screen.findByTestId('job-image')).getAttribute('src')).toMatch(/^blob:test\/\d$/);
  });

  it('show a refused read as an empty square in the list and as the error on the job’s page', async () => {
    const api = stubApi(notFound);
    const { container } = render(
      <>
        <JobThumbnail job={job('job-1')} />
        <JobImage job={job('job-1')} />
      </>,
      { wrapper },
    );
    expect((await screen.findByRole('alert')).getAttribute('data-code')).toBe('JOB_NOT_FOUND');
    expect(api.fetch).toHaveBeenCalledTimes(2);
    expect(container.querySelector('.thumb-empty:not(.thumb-loading)')).not.toBeNull();
    expect(screen.queryByTestId('job-thumbnail')).toBeNull();
    expect(screen.queryByTestId('job-image')).toBeNull();
  });

  it('show bytes the browser cannot draw as an empty square and as “No preview”', async () => {
    stubApi();
    const { container } = render(
      <>
        <JobThumbnail job={job('job-1')} />
        <JobImage job={job('job-1')} />
      </>,
      { wrapper },
    );
    fireEvent.error(await screen.findByTestId('job-thumbnail'));
    fireEvent.error(await screen.findByTestId('job-image'));
    expect(container.querySelector('.thumb-empty')).not.toBeNull();
    expect(screen.getByText('No preview')).toBeTruthy();
    expect(screen.getByText(/cannot show AVIF images/)).toBeTruthy();
    expect(screen.queryByRole('img')).toBeNull();
  });
});
