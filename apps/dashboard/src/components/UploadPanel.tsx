import { useEffect, useId, useRef, useState, type DragEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import type { JobView } from '@inferq/core';
import type { ApiClient } from '../api/apiClient.ts';
import { formatBytes, shortId } from '../format.ts';
import { ErrorNotice } from './ErrorNotice.tsx';

interface Picked {
  file: File;
  url: string;
  width?: number;
  height?: number;
  previewFailed?: boolean;
}

/**
 * Submits an image: picked with the file dialog or dropped on the panel, shown before it is sent.
 * The API is the judge of what is an image; a file the browser cannot preview can still be sent
 * and the API's answer is shown as it is.
 */
export interface ModelChoice {
  name: string;
  liveVersion: string | null;
}

export function UploadPanel({ client, maxBytes, models = [] }: { client: ApiClient; maxBytes?: number | undefined; models?: ModelChoice[] }) {
  const queryClient = useQueryClient();
  const inputId = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  const [picked, setPicked] = useState<Picked | null>(null);
  const [dragging, setDragging] = useState(false);
  const [submitted, setSubmitted] = useState<JobView | null>(null);
  // Empty: the server's default model, at its live version.
  const [model, setModel] = useState('');

  const previewUrl = picked?.url;
  useEffect(() => () => {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
  }, [previewUrl]);

  const submit = useMutation({
    mutationFn: (file: File) => client.submitJob(file, { fileName: file.name, ...(model ? { model } : {}) }),
    onSuccess: (job) => {
      queryClient.setQueryData(['job', job.id], job);
      void queryClient.invalidateQueries({ queryKey: ['jobs'] });
      void queryClient.invalidateQueries({ queryKey: ['account'] });
      setSubmitted(job);
      setPicked(null);
      if (inputRef.current) inputRef.current.value = '';
    },
  });

  const pick = (file: File | undefined) => {
    if (!file) return;
    submit.reset();
    setSubmitted(null);
    setPicked({ file, url: URL.createObjectURL(file) });
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    pick(event.dataTransfer.files[0]);
  };

  return (
    <section className="card upload" aria-labelledby={`${inputId}-title`}>
      <div className="card-head">
        <h2 id={`${inputId}-title`}>New job</h2>
        {maxBytes ? <span className="muted small">up to {formatBytes(maxBytes)}</span> : null}
      </div>
      <label
        htmlFor={inputId}
        className={`dropzone${dragging ? ' dropzone-active' : ''}${picked ? ' dropzone-filled' : ''}`}
        data-testid="dropzone"
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        {picked && !picked.previewFailed ? (
          <img
            className="dropzone-preview"
            src={picked.url}
            alt="Preview of the image to submit"
            onLoad={(event) => {
              const image = event.currentTarget;
              setPicked((current) => (current ? { ...current, width: image.naturalWidth, height: image.naturalHeight } : current));
            }}
            onError={() => setPicked((current) => (current ? { ...current, previewFailed: true } : current))}
          />
        ) : (
          <div className="dropzone-hint">
            <span className="dropzone-icon" aria-hidden="true">⇪</span>
            <span>{picked ? 'No preview for this file' : 'Drop an image here, or choose one'}</span>
            <span className="muted small">JPEG, PNG, WebP, GIF, AVIF or TIFF</span>
          </div>
        )}
        <input
          ref={inputRef}
          id={inputId}
          className="visually-hidden"
          type="file"
          accept="image/*"
          data-testid="file-input"
          onChange={(event) => pick(event.target.files?.[0])}
        />
      </label>
      {picked && (
        <div className="upload-file">
          <span className="upload-name" title={picked.file.name}>{picked.file.name}</span>
          <span className="muted small">
            {formatBytes(picked.file.size)}
            {picked.width ? ` · ${picked.width}×${picked.height}` : ''}
          </span>
        </div>
      )}
      {models.length > 1 && (
        <label className="field field-inline">
          <span className="field-label">Model</span>
          <select value={model} onChange={(event) => setModel(event.target.value)} data-testid="model-select">
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
      {submit.error && <ErrorNotice error={submit.error} onDismiss={() => submit.reset()} />}
      {submitted && (
        <div className="notice notice-ok" role="status">
          Submitted <Link to={`/jobs/${submitted.id}`}>job {shortId(submitted.id)}</Link> — it appears below and updates live.
        </div>
      )}
      <div className="upload-actions">
        <button type="button" className="button button-primary" disabled={!picked || submit.isPending} onClick={() => picked && submit.mutate(picked.file)}>
          {submit.isPending ? 'Submitting…' : 'Submit'}
        </button>
        {picked && (
          <button
            type="button"
            className="button"
            onClick={() => {
              setPicked(null);
              submit.reset();
              if (inputRef.current) inputRef.current.value = '';
            }}
          >
            Clear
          </button>
        )}
      </div>
    </section>
  );
}
