import { Router, type Request } from 'express';
import { AppError } from '@inferq/core';
import { imageOnly } from '@inferq/images';
import type { JobStore } from '@inferq/db';
import type { AccountService } from '../accountService.ts';
import { principalOf, requireAdmin } from '../http/authenticate.ts';
import type { JobService } from '../jobService.ts';
import { toJobView } from '../jobView.ts';
import type { LiveEvents } from '../liveEvents.ts';
import type { OperatorService } from '../operatorService.ts';
import { metricsOf } from '../http/httpMetrics.ts';

export interface DashboardRouterOptions {
  service: JobService;
  jobs: JobStore;
  accounts: AccountService;
  operator: OperatorService;
  /** Absent: /v1/events answers 503 (no subscriber connection in this process). */
  live?: LiveEvents | undefined;
}

/** Content types of the stored input formats; the bytes were sniffed at upload, never trusted by name. */
const contentTypes: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  tiff: 'image/tiff',
};

function intParam(req: Request, name: string, fallback: number, min: number, max: number): number {
  const raw = req.query[name];
  if (raw === undefined) return fallback;
  const value = typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new AppError('VALIDATION_FAILED', `${name} must be an integer from ${min} to ${max}.`, { details: { [name]: raw } });
  }
  return value;
}

/**
 * The routes the dashboard needs besides the public job routes: the caller's account, a job's
 * input image, the live event stream, and the operators' overview, stats and actions.
 */
export function dashboardRouter(options: DashboardRouterOptions): Router {
  const { service, jobs, accounts, operator, live } = options;
  const router = Router();

  router.get('/account', async function getAccount(req, res) {
    res.json(await accounts.describe(principalOf(req)));
  });

  router.get('/jobs/:id/image', async function getJobImage(req, res) {
    const job = await service.get(principalOf(req), req.params.id);
    const stored = await jobs.getInput(job.id);
    if (!stored) throw new AppError('NOT_FOUND', 'The input of this job is no longer stored.');
    // Inputs are stored trimmed to the image; rows from before that are trimmed here.
    const bytes = imageOnly(stored, job.inputFormat);
    res.set({
      'Content-Type': contentTypes[job.inputFormat] ?? 'application/octet-stream',
      'Content-Length': String(bytes.byteLength),
      // Private: the image belongs to one account; immutable: a job's input never changes.
      'Cache-Control': 'private, max-age=3600, immutable',
      'Content-Disposition': `inline; filename="${job.id}.${job.inputFormat}"`,
      'Content-Security-Policy': "default-src 'none'",
      // Never sniffed into HTML or script, whatever the bytes look like (helmet sets it too).
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(bytes);
  });

  router.get('/events', async function streamEvents(req, res) {
    if (!live) throw new AppError('QUEUE_UNAVAILABLE', 'Live events are not available on this server.');
    const principal = principalOf(req);
    // Refused with a plain 503 before any byte of the stream is sent.
    live.assertCapacity();
    let detach: (() => void) | undefined;
    let ended = false;
    const stream = {
      principal,
      write: (chunk: string) => {
        if (!ended) res.write(chunk);
        return res.writableLength;
      },
      end: () => {
        ended = true;
        res.end();
      },
    };
    req.socket.setKeepAlive(true);
    req.socket.setNoDelay(true);
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // Proxies (nginx) must pass events through as they come.
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.on('close', () => {
      ended = true;
      detach?.();
    });
    try {
      detach = await live.open(stream);
    } catch (error) {
      // Headers are sent: report in-band, then close; the client retries later.
      const appError = error instanceof AppError ? error : new AppError('QUEUE_UNAVAILABLE', 'Live events are unavailable now.');
      stream.write(`event: error\ndata: ${JSON.stringify(appError.toBody())}\n\n`);
      stream.end();
      return;
    }
    if (ended) detach();
  });

  router.use('/admin', requireAdmin);

  router.get('/admin/overview', async function getQueueOverview(_req, res) {
    res.json(await operator.snapshot());
  });

  router.get('/admin/stats', async function getJobStats(req, res) {
    const windowSeconds = intParam(req, 'window', 3600, 60, 7 * 24 * 3600);
    const bucketSeconds = intParam(req, 'bucket', 60, 1, 24 * 3600);
    if (windowSeconds / bucketSeconds > 500) {
      throw new AppError('VALIDATION_FAILED', 'At most 500 buckets: raise bucket or lower window.', { details: { window: windowSeconds, bucket: bucketSeconds } });
    }
    res.json(await operator.stats({ windowSeconds, bucketSeconds }));
  });

  router.post('/admin/jobs/:id/retry', async function retryJob(req, res) {
    const job = await operator.retry(req.params.id);
    res.status(202).json(toJobView(job));
  });

  router.post('/admin/jobs/:id/cancel', async function cancelAnyJob(req, res) {
    const job = await operator.cancel(req.params.id);
    metricsOf(req)?.jobsFinished.inc({ model: job.modelName, status: 'canceled', code: '' });
    res.json(toJobView(job));
  });

  return router;
}
