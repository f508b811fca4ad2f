import { useEffect, useState } from 'react';
import { describeError } from '../format.ts';

/**
 * A failed request, said plainly: the headline by error code ("rate limited — retry in 12 s"),
 * the API's own message under it, and the code for support. The wait counts down.
 */
export function ErrorNotice({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  const description = describeError(error);
  const [left, setLeft] = useState(description.retryAfterSeconds);
  useEffect(() => {
    setLeft(description.retryAfterSeconds);
    if (!description.retryAfterSeconds) return;
    const started = Date.now();
    const timer = setInterval(() => {
      const remaining = Math.max(0, (description.retryAfterSeconds ?? 0) - Math.floor((Date.now() - started) / 1000));
      setLeft(remaining);
      if (remaining === 0) clearInterval(timer);
    }, 1000);
    return () => clearInterval(timer);
  }, [error, description.retryAfterSeconds]);

  const title =
    left !== null && description.retryAfterSeconds
      ? description.title.replace(/retry in \d+ s$/, left > 0 ? `retry in ${left} s` : 'retry now')
      : description.title;
  return (
    <div className="notice notice-error" role="alert" data-code={description.code}>
      <div className="notice-body">
        <strong className="notice-title">{title.charAt(0).toUpperCase() + title.slice(1)}</strong>
        {description.detail && <span className="notice-detail">{description.detail}</span>}
        <code className="notice-code">{description.code}</code>
      </div>
      {onDismiss && (
        <button type="button" className="notice-close" onClick={onDismiss} aria-label="Dismiss">
          ×
        </button>
      )}
    </div>
  );
}
