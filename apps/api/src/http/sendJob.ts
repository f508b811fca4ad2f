import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { JobView } from '@inferq/core';

/** A weak validator of a job's JSON: it changes whenever anything in the view changes. */
export function jobEtag(body: string): string {
  return `W/"${createHash('sha1').update(body).digest('base64url')}"`;
}

/** RFC 9110 If-None-Match with weak comparison: `*`, or any listed tag equal once `W/` is dropped. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => opaque(tag) === opaque(etag));
}

/**
 * Sends a job view with its ETag, or `304 Not Modified` to a GET whose If-None-Match matches.
 * Checked here rather than by Express's `req.fresh`, which never answers 304 to a request
 * carrying `Cache-Control: no-cache` — and fetch() adds exactly that to conditional requests.
 */
export function sendJob(req: Request, res: Response, view: JobView, status = 200): void {
  const body = JSON.stringify(view);
  const etag = jobEtag(body);
  // no-cache: caches may keep it but must revalidate (a queued job changes soon).
  res.set({ ETag: etag, 'Cache-Control': 'private, no-cache' });
  if (
    status === 200 &&
    (req.method === 'GET' || req.method === 'HEAD') &&
    matchesIfNoneMatch(req.get('if-none-match'), etag)
  ) {
    res.status(304).end();
    return;
  }
  res.status(status).type('application/json').send(body);
}
