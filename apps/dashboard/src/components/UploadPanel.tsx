import { useEffect, useId, useRef, useState, type DragEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import type { JobView } from '@inferq/core';
import type { ApiClient } from '../api/apiClient.ts';
import { ApiError } from '../api/apiTransport.ts';
import { formatBytes, shortId } from '../format.ts';
import { ErrorNotice } from './ErrorNotice.tsx';

export interface ModelChoice {
  name: string;
  liveVersion: string | null;
}

/** One picked file and how its upload went. */
interface UploadItem {
  key: number;
  file: File;
  url: string;
  width?: number;
  height?: number;
  previewFailed?: boolean;
  state: 'ready' | 'sending' | 'failed';
  /** Share of the body sent, 0 to 1. */
  progress: number;
  error?: unknown;
}

interface Submitted {
  key: number;
  fileName: string;
  job: JobView;
}

/** Most files picked at once: the tier's rate limit refuses far fewer per minute anyway. */
const maxFiles = 50;

/**
 * Refusals that say "not now" for every file, not "not this file": the rest of the batch waits
 * for the next Submit instead of being refused one by one.
 */
const stopsBatch = new Set([
  'RATE_LIMITED',
  'QUOTA_EXCEEDED',
  'QUEUE_FULL',
  'QUEUE_UNAVAILABLE',
  'DATABASE_UNAVAILABLE',
  'NETWORK',
  'UNAUTHENTICATED',
]);

let nextKey = 1;

function plural(count: number, one: string): string {
  return `${count} ${count === 1 ? one : `${one}s`}`;
}

function ProgressBar({ value, label, testId }: { value: number; label: string; testId?: string }) {
  const percent = Math.round(value * 100);
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
      data-testid={testId}
    >
      <div className="progress-fill" style={{ width: `${percent}%` }} />
    </div>
  );
}

/**
 * Submits images: one or many, picked with the file dialog or dropped on the panel, shown before
 * they are sent. They go one at a time with a progress bar each, and each file gets its own
 * answer: the job it became, or the API's refusal. The API is the judge of what is an image; a
 * file the browser cannot preview can still be sent and the API's answer is shown as it is.
 */
export function UploadPanel({
  client,
  maxBytes,
  models = [],
}: {
  client: ApiClient;
  maxBytes?: number | undefined;
  models?: ModelChoice[];
}) {
  const queryClient = useQueryClient();
  const inputId = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  const [items, setItems] = useState<UploadItem[]>([]);
  const [submitted, setSubmitted] = useState<Submitted[]>([]);
  const [dragging, setDragging] = useState(false);
  const [sending, setSending] = useState(false);
  // Files picked together: one gets the big preview, several a list with a row each.
  const [batchSize, setBatchSize] = useState(0);
  // Empty: the server's default model, at its live version.
  const [model, setModel] = useState('');
  const urls = useRef(new Set<string>());

  useEffect(() => {
    const held = urls.current;
    return () => {
      for (const url of held) URL.revokeObjectURL(url);
    };
  }, []);

  const release = (item: UploadItem) => {
    URL.revokeObjectURL(item.url);
    urls.current.delete(item.url);
  };
  const update = (key: number, patch: Partial<UploadItem>) =>
    setItems((current) => current.map((item) => (item.key === key ? { ...item, ...patch } : item)));

  const pick = (files: FileList | File[] | null | undefined) => {
    const list = [...(files ?? [])].slice(0, maxFiles);
    if (list.length === 0 || sending) return;
    setItems((current) => {
      for (const item of current) release(item);
      return list.map((file) => {
        const url = URL.createObjectURL(file);
        urls.current.add(url);
        return { key: nextKey++, file, url, state: 'ready', progress: 0 };
      });
    });
    setSubmitted([]);
    setBatchSize(list.length);
  };

  const clear = () => {
    for (const item of items) release(item);
    setItems([]);
    setSubmitted([]);
    setBatchSize(0);
    if (inputRef.current) inputRef.current.value = '';
  };

  const submitAll = async () => {
    const batch = items.filter((item) => item.state !== 'sending');
    if (batch.length === 0) return;
    setSending(true);
    setSubmitted([]);
    let sent = 0;
    try {
      for (const item of batch) {
        update(item.key, { state: 'sending', progress: 0, error: undefined });
        try {
          const job = await client.jobs.submit(item.file, {
            fileName: item.file.name,
            ...(model ? { model } : {}),
            onProgress: ({ loaded, total }) => update(item.key, { progress: total > 0 ? loaded / total : 0 }),
          });
          sent++;
          queryClient.setQueryData(['job', job.id], job);
          setSubmitted((current) => [...current, { key: item.key, fileName: item.file.name, job }]);
          release(item);
          setItems((current) => current.filter((entry) => entry.key !== item.key));
        } catch (error) {
          update(item.key, { state: 'failed', progress: 0, error });
          if (error instanceof ApiError && stopsBatch.has(error.code)) break;
        }
      }
    } finally {
      setSending(false);
      if (sent > 0) {
        void queryClient.invalidateQueries({ queryKey: ['jobs'] });
        void queryClient.invalidateQueries({ queryKey: ['account'] });
      }
      if (inputRef.current) inputRef.current.value = '';
    }
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    pick(event.dataTransfer.files);
  };

  const many = batchSize > 1;
  const single = !many && items.length === 1 ? items[0] : undefined;
  const total = items.length + submitted.length;
  const refused = items.filter((item) => item.state === 'failed').length;
  const waiting = items.filter((item) => item.state === 'ready').length;
  // A refused file is done too: the bar says how much of the batch has had its answer.
  const overall =
    total > 0
      ? (submitted.length +
          items.reduce(
            (sum, item) => sum + (item.state === 'sending' ? item.progress : item.state === 'failed' ? 1 : 0),
            0,
          )) /
        total
      : 0;

  return (
    <section className="card upload" aria-labelledby={`${inputId}-title`}>
      <div className="card-head">
        <h2 id={`${inputId}-title`}>New job</h2>
        {maxBytes ? <span className="muted small">up to {formatBytes(maxBytes)} each</span> : null}
      </div>
      <label
        htmlFor={inputId}
        className={`dropzone${dragging ? ' dropzone-active' : ''}${single ? ' dropzone-filled' : ''}`}
        data-testid="dropzone"
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        {single && !single.previewFailed ? (
          <img
            className="dropzone-preview"
            src={single.url}
            alt="Preview of the image to submit"
            onLoad={(event) =>
              update(single.key, { width: event.currentTarget.naturalWidth, height: event.currentTarget.naturalHeight })
            }
            onError={() => update(single.key, { previewFailed: true })}
          />
        ) : (
          <div className="dropzone-hint">
            <span className="dropzone-icon" aria-hidden="true">
              ⇪
            </span>
            <span>
              {single
                ? 'No preview for this file'
                : many
                  ? `${batchSize} images picked — drop or choose others to replace them`
                  : 'Drop images here, or choose them'}
            </span>
            <span className="muted small">JPEG, PNG, WebP, GIF, AVIF or TIFF · one or many</span>
          </div>
        )}
        <input
          ref={inputRef}
          id={inputId}
          className="visually-hidden"
          type="file"
          accept="image/*"
          multiple
          data-testid="file-input"
          onChange={(event) => pick(event.target.files)}
        />
      </label>
      {single && (
        <div className="upload-file">
          <span className="upload-name" title={single.file.name}>
            {single.file.name}
          </span>
          <span className="muted small">
            {formatBytes(single.file.size)}
            {single.width ? ` · ${single.width}×${single.height}` : ''}
          </span>
        </div>
      )}
      {single?.state === 'sending' && (
        <ProgressBar value={single.progress} label={`Uploading ${single.file.name}`} testId="file-progress" />
      )}
      {single?.state === 'failed' && (
        <ErrorNotice error={single.error} onDismiss={() => update(single.key, { state: 'ready', error: undefined })} />
      )}
      {many && (
        <ul className="upload-list" data-testid="upload-list" aria-label="Files to submit">
          {submitted.map((entry) => (
            <li
              key={entry.key}
              className="upload-item upload-item-done"
              data-file-name={entry.fileName}
              data-state="submitted"
            >
              <span className="upload-item-mark" aria-hidden="true">
                ✓
              </span>
              <span className="upload-name" title={entry.fileName}>
                {entry.fileName}
              </span>
              <Link className="mono small" to={`/jobs/${entry.job.id}`}>
                job {shortId(entry.job.id)}
              </Link>
            </li>
          ))}
          {items.map((item) => (
            <li
              key={item.key}
              className={`upload-item upload-item-${item.state}`}
              data-file-name={item.file.name}
              data-state={item.state}
            >
              {item.previewFailed ? (
                <span className="upload-thumb upload-thumb-none" aria-hidden="true" />
              ) : (
                <img
                  className="upload-thumb"
                  src={item.url}
                  alt=""
                  onError={() => update(item.key, { previewFailed: true })}
                />
              )}
              <span className="upload-name" title={item.file.name}>
                {item.file.name}
              </span>
              <span className="muted small">{formatBytes(item.file.size)}</span>
              {item.state === 'sending' && (
                <ProgressBar value={item.progress} label={`Uploading ${item.file.name}`} testId="file-progress" />
              )}
              {item.state === 'failed' && (
                <div className="upload-item-error">
                  <ErrorNotice error={item.error} />
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      {many && (sending || submitted.length > 0) && (
        <div className="meter">
          <div className="meter-head">
            <span>{sending ? 'Uploading' : 'Uploaded'}</span>
            <span className="meter-value" data-testid="upload-count">
              {submitted.length} / {total} submitted
            </span>
          </div>
          <ProgressBar value={overall} label="All files" testId="upload-progress" />
        </div>
      )}
      {models.length > 1 && (
        <label className="field field-inline">
          <span className="field-label">Model</span>
          <select
            value={model}
            onChange={(event) => setModel(event.target.value)}
            data-testid="model-select"
            disabled={sending}
          >
            <option value="">Default</option>
            {models.map((choice) => (
              <option key={choice.name} value={choice.name} disabled={!choice.liveVersion}>
                {choice.name}
                {choice.liveVersion ? ` (${choice.liveVersion})` : ' (not ready)'}
              </option>
            ))}
          </select>
        </label>
      )}
      {!many && submitted.length === 1 && (
        <div className="notice notice-ok" role="status">
          Submitted <Link to={`/jobs/${submitted[0]!.job.id}`}>job {shortId(submitted[0]!.job.id)}</Link> — it appears
          below and updates live.
        </div>
      )}
      {many && submitted.length > 0 && !sending && (
        <div className="notice notice-ok" role="status">
          Submitted {plural(submitted.length, 'job')}
          {refused > 0 ? `; ${refused} refused` : ''}
          {waiting > 0 ? `; ${waiting} not sent yet` : ''} — they appear below and update live.
        </div>
      )}
      <div className="upload-actions">
        <button
          type="button"
          className="button button-primary"
          disabled={items.length === 0 || sending}
          onClick={() => void submitAll()}
        >
          {sending ? 'Submitting…' : items.length > 1 ? `Submit all ${items.length}` : 'Submit'}
        </button>
        {(items.length > 0 || submitted.length > 0) && (
          <button type="button" className="button" disabled={sending} onClick={clear}>
            Clear
          </button>
        )}
      </div>
    </section>
  );
}
