import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { Router, type Response } from 'express';

export interface DashboardStaticOptions {
  /** The dashboard's build folder (index.html + assets/); absent or unbuilt: a page says how to build it. */
  dir?: string | undefined;
}

/**
 * The dashboard page's own policy: the defaults plus `blob:` images (previews of the file being
 * uploaded, and job images fetched with the Authorization header). No inline scripts.
 */
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self' data:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>InferQ dashboard not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The dashboard is not built</h1>
<p>This API serves the dashboard from its build folder, which is missing. Build it once:</p>
<pre>pnpm --filter @inferq/dashboard build</pre>
<p>The API itself works without it: see <code>/v1/jobs</code>.</p>
</body></html>`;

/** True when `dir` holds a built dashboard. */
export function isDashboardBuilt(dir: string | undefined): dir is string {
  return dir !== undefined && existsSync(path.join(dir, 'index.html'));
}

/**
 * Serves the built single-page app under its mount point (`/dashboard`): hashed assets cached for
 * a year, index.html never cached (it names the current assets), and every other path answered
 * with index.html so deep links work. The folder is checked per request, so a build made after
 * the API started is picked up.
 */
export function dashboardStatic(options: DashboardStaticOptions): Router {
  const router = Router();
  const dir = options.dir ? path.resolve(options.dir) : undefined;
  const sendIndex = (res: Response) => {
    res.set('Cache-Control', 'no-cache');
    res.sendFile(path.join(dir!, 'index.html'));
  };

  router.use((_req, res, next) => {
    res.set('Content-Security-Policy', contentSecurityPolicy);
    next();
  });
  router.use((req, res, next) => {
    if (isDashboardBuilt(dir)) return next();
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    res.status(503).set('Cache-Control', 'no-store').type('html').send(notBuiltPage);
  });
  if (dir) {
    router.use(
      '/assets',
      express.static(path.join(dir, 'assets'), {
        index: false,
        fallthrough: true,
        // File names carry a content hash: a changed file gets a new name.
        setHeaders: (res) => res.set('Cache-Control', 'public, max-age=31536000, immutable'),
      }),
    );
    router.use(express.static(dir, { index: false, setHeaders: (res) => res.set('Cache-Control', 'no-cache') }));
  }
  router.get('/{*path}', (req, res, next) => {
    // A missing asset is a 404, never the page (a stale page asking for an old hash must see it).
    if (req.path.startsWith('/assets/')) return next();
    sendIndex(res);
  });
  return router;
}
