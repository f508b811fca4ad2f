import type { Request, RequestHandler } from 'express';
import type { ApiMetrics } from '@inferq/metrics';

/** The API's metrics, for routes and middleware that count something (`app.locals.metrics`). */
export function metricsOf(req: Request): ApiMetrics | undefined {
  return req.app.locals.metrics as ApiMetrics | undefined;
}

/**
 * The matched route's template with its mount path (`/v1/jobs/:id`), never the raw path, so the
 * label has a bounded set of values; `unrouted` for requests that reached no route (404s, and
 * those refused earlier by authentication or rate limits; `status_code` tells them apart).
 * Express restores `req.baseUrl` when an error leaves a router, so the mount path is taken from
 * the original URL: its leading segments before the route's own.
 */
function routeOf(req: Request): string {
  const template: unknown = req.route?.path;
  if (typeof template !== 'string') return 'unrouted';
  const routeSegments = template.split('/').filter(Boolean);
  const pathSegments = (req.originalUrl.split('?')[0] ?? '').split('/').filter(Boolean);
  if (/[*{]/.test(template) || pathSegments.length < routeSegments.length) return template;
  const mount = pathSegments.slice(0, pathSegments.length - routeSegments.length);
  return `${mount.length > 0 ? `/${mount.join('/')}` : ''}${template === '/' && mount.length > 0 ? '' : template}`;
}

/**
 * Times every request into `inferq_http_request_duration_seconds{method, route, status_code}` and
 * counts each 429 in `inferq_rate_limit_rejections_total` by its error code and the caller's tier,
 * whichever middleware refused it.
 */
export function httpMetrics(metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpRequestDuration.startTimer();
    res.once('finish', () => {
      end({ method: req.method, route: routeOf(req), status_code: String(res.statusCode) });
      if (res.statusCode === 429) {
        const reason = typeof res.locals.errorCode === 'string' ? res.locals.errorCode : 'unknown';
        metrics.rateLimitRejections.inc({ reason, tier: req.principal?.tier ?? 'anonymous' });
      }
    });
    next();
  };
}
