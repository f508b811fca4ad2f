import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router } from 'express';
import { buildOpenApiDocument } from '@inferq/core/openapi';

/** The reference page's renderer, served from node_modules: the page loads nothing from elsewhere. */
const scalarBundle = path.join(
  path.dirname(fileURLToPath(import.meta.resolve('@scalar/api-reference'))),
  'browser',
  'standalone.js',
);

// The page has no inline script (the default Content-Security-Policy forbids it): the bundle reads
// its settings from the data attributes of #api-reference.
const docsPage = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>InferQ API reference</title>
  </head>
  <body>
    <script id="api-reference" data-url="/openapi.json" data-configuration='{"withDefaultFonts":false,"hideClientButton":true,"showDeveloperTools":"never","telemetry":false}'></script>
    <script src="/docs/scalar.js"></script>
  </body>
</html>
`;

/** `GET /openapi.json` (the API's OpenAPI 3.1 document) and `GET /docs` (a page to browse it). Public. */
export function apiDocsRouter(): Router {
  const router = Router();
  let document: string | undefined;

  router.get('/openapi.json', function getOpenApiDocument(_req, res) {
    document ??= JSON.stringify(buildOpenApiDocument());
    res.set('Cache-Control', 'public, max-age=300').type('application/json').send(document);
  });
  router.get('/docs', function getApiReference(_req, res) {
    res.type('html').send(docsPage);
  });
  router.get('/docs/scalar.js', function getApiReferenceScript(_req, res) {
    // dotfiles: the pnpm store path has a `.pnpm` segment.
    res.sendFile(scalarBundle, { maxAge: '1d', dotfiles: 'allow' });
  });
  return router;
}
