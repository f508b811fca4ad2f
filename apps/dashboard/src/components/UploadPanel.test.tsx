import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JobView } from '@inferq/core';
import type { ApiClient } from '../api/apiClient.ts';
import { ApiError } from '../api/apiTransport.ts';
import type { JobsApi } from '../api/jobsApi.ts';
import { UploadPanel } from './UploadPanel.tsx';

afterEach(cleanup);

function renderPanel(submitJob: JobsApi['submit'], models: Array<{ name: string; liveVersion: string | null }> = []) {
  const client = { jobs: { submit: submitJob } } as unknown as ApiClient;
  const queryClient = new QueryClient({ defaultOptions: { mutations: { retry: false } } });
  render(
    <QueryClientProvider client={queryClient}>
      <MemoryRouter>
        <UploadPanel client={client} maxBytes={5 * 1024 * 1024} models={models} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return queryClient;
}

const png = (name = 'cat.png') => new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], name, { type: 'image/png' });

describe('UploadPanel', () => {
  it('shows a dropped file before sending it, sends exactly that file, then clears', async () => {
    const submitJob = vi.fn(
      async (_file: Blob, _options?: object) =>
        ({ id: '0b7e3c1a-0000-4000-8000-000000000000', status: 'queued' }) as JobView,
    );
    const queryClient = renderPanel(submitJob);
    const submit = screen.getByRole('button', { name: 'Submit' });
    expect(submit).toHaveProperty('disabled', true);

    const file = png();
    fireEvent.drop(screen.getByTestId('dropzone'), { dataTransfer: { files: [file] } });
    expect(screen.getByAltText('Preview of the image to submit')).toBeTruthy();
    expect(screen.getByText('cat.png')).toBeTruthy();

    fireEvent.click(submit);
    await waitFor(() => expect(screen.getByRole('status').textContent).toContain('0b7e3c1a'));
    expect(submitJob).toHaveBeenCalledTimes(1);
    expect(submitJob).toHaveBeenCalledWith(file, expect.objectContaining({ fileName: 'cat.png' }));
    expect(submitJob.mock.calls[0]![1]).not.toHaveProperty('model');
    expect(queryClient.getQueryData(['job', '0b7e3c1a-0000-4000-8000-000000000000'])).toMatchObject({
      status: 'queued',
    });
    expect(screen.queryByAltText('Preview of the image to submit')).toBeNull();
  });

  it.each([
    ['INVALID_IMAGE', 400, null, 'Not a valid image'],
    ['RATE_LIMITED', 429, 12, 'Rate limited — retry in 12 s'],
    ['QUEUE_FULL', 503, 5, 'Queue full — retry in 5 s'],
  ])('shows the refusal %s with its headline and the API message', async (code, status, retryAfter, headline) => {
    const submitJob = vi.fn(async () => {
      throw new ApiError(status, code, 'what the API said', { retryAfterSeconds: retryAfter });
    });
    renderPanel(submitJob);
    fireEvent.change(screen.getByTestId('file-input'), { target: { files: [png()] } });
    fireEvent.click(screen.getByRole('button', { name: 'Submit' }));
    const alert = await screen.findByRole('alert');
    expect(alert.getAttribute('data-code')).toBe(code);
    expect(alert.textContent).toContain(headline);
    expect(alert.textContent).toContain('what the API said');
    // The file stays picked so it can be sent again.
    expect(screen.getByText('cat.png')).toBeTruthy();
  });

  it('sends the model picked from the list, and offers none that has no live version', async () => {
    const submitJob = vi.fn(async () => ({ id: '0b7e3c1a-0000-4000-8000-000000000000', status: 'queued' }) as JobView);
    renderPanel(submitJob, [
      { name: 'mnist', liveVersion: '1.0.0' },
      { name: 'nsfw', liveVersion: '4.4.0' },
      { name: 'broken', liveVersion: null },
    ]);
    const select = screen.getByTestId('model-select') as HTMLSelectElement;
    expect([...select.options].filter((option) => option.disabled).map((option) => option.value)).toEqual(['broken']);
    fireEvent.change(select, { target: { value: 'mnist' } });
    const file = png();
    fireEvent.change(screen.getByTestId('file-input'), { target: { files: [file] } });
    fireEvent.click(screen.getByRole('button', { name: 'Submit' }));
    await waitFor(() =>
      expect(submitJob).toHaveBeenCalledWith(file, expect.objectContaining({ fileName: 'cat.png', model: 'mnist' })),
    );
  });

  it('shows no model list when there is only one model', () => {
    renderPanel(vi.fn(), [{ name: 'nsfw', liveVersion: '4.4.0' }]);
    expect(screen.queryByTestId('model-select')).toBeNull();
  });

  it('sends several files one at a time with a progress bar each, and says what became of each', async () => {
    const answers: Record<string, () => JobView> = {
      'a.png': () => ({ id: 'aaaaaaaa-0000-4000-8000-000000000000', status: 'queued' }) as JobView,
      'b.png': () => {
        throw new ApiError(400, 'INVALID_IMAGE', 'not an image at all');
      },
      'c.png': () => ({ id: 'cccccccc-0000-4000-8000-000000000000', status: 'queued' }) as JobView,
    };
    let release: () => void = () => {};
    const submitJob = vi.fn(async (file: Blob, options: Parameters<JobsApi['submit']>[1] = {}) => {
      const name = (file as File).name;
      options.onProgress?.({ loaded: 50, total: 100 });
      if (name === 'a.png') await new Promise<void>((resolve) => (release = resolve));
      return answers[name]!();
    });
    renderPanel(submitJob as unknown as JobsApi['submit']);
    fireEvent.change(screen.getByTestId('file-input'), {
      target: { files: [png('a.png'), png('b.png'), png('c.png')] },
    });
    expect(screen.getAllByRole('listitem').map((item) => item.getAttribute('data-file-name'))).toEqual([
      'a.png',
      'b.png',
      'c.png',
    ]);
    fireEvent.click(screen.getByRole('button', { name: 'Submit all 3' }));

    // The first is on its way, half sent; the others wait their turn.
    const bar = await screen.findByRole('progressbar', { name: 'Uploading a.png' });
    expect(bar.getAttribute('aria-valuenow')).toBe('50');
    expect(submitJob).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId('upload-progress').getAttribute('aria-valuenow')).toBe('17');
    release();

    await waitFor(() => expect(screen.getByRole('status').textContent).toContain('Submitted 2 jobs; 1 refused —'));
    expect(submitJob.mock.calls.map(([file]) => (file as File).name)).toEqual(['a.png', 'b.png', 'c.png']);
    const states = Object.fromEntries(
      screen
        .getAllByRole('listitem')
        .map((item) => [item.getAttribute('data-file-name'), item.getAttribute('data-state')]),
    );
    expect(states).toEqual({ 'a.png': 'submitted', 'b.png': 'failed', 'c.png': 'submitted' });
    const refused = screen.getAllByRole('listitem').find((item) => item.getAttribute('data-file-name') === 'b.png')!;
    expect(refused.querySelector('[role="alert"]')!.getAttribute('data-code')).toBe('INVALID_IMAGE');
    expect(screen.getByTestId('upload-count').textContent).toBe('2 / 3 submitted');
    expect(screen.getByTestId('upload-progress').getAttribute('aria-valuenow')).toBe('100');
    // Only the refused file is left to send again.
    expect(screen.getByRole('button', { name: 'Submit' })).toHaveProperty('disabled', false);
  });

  it('stops the batch at a refusal that holds for every file (rate limited), leaving the rest to send later', async () => {
    const submitJob = vi.fn(async (file: Blob) => {
      if ((file as File).name === 'b.png')
        throw new ApiError(429, 'RATE_LIMITED', 'slow down', { retryAfterSeconds: 30 });
      return { id: 'aaaaaaaa-0000-4000-8000-000000000000', status: 'queued' } as JobView;
    });
    renderPanel(submitJob);
    fireEvent.change(screen.getByTestId('file-input'), {
      target: { files: [png('a.png'), png('b.png'), png('c.png'), png('d.png')] },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Submit all 4' }));
    await waitFor(() =>
      expect(screen.getByRole('status').textContent).toContain('Submitted 1 job; 1 refused; 2 not sent yet'),
    );
    expect(submitJob).toHaveBeenCalledTimes(2);
    const states = screen.getAllByRole('listitem').map((item) => item.getAttribute('data-state'));
    expect(states).toEqual(['submitted', 'failed', 'ready', 'ready']);
    expect(screen.getByRole('button', { name: 'Submit all 3' })).toBeTruthy();
  });
});
