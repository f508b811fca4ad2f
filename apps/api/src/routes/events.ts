import { Router, type Request, type Response } from 'express';
import { AppError, isFinalStatus, queueUnavailable } from '@inferq/core';
import type { JobReads } from '@inferq/jobs';
import { principalOf } from '../http/authenticate.ts';
import type { LiveEvents, OpenStreamOptions } from '../liveEvents.ts';

/**
 * GET /v1/events: the caller's job events (every job's, and queue snapshots, for an admin) as
 * server-sent events; GET /v1/jobs/:id/events: one job's, ending with `end` once it is final.
 * Each job event carries its id; a client that reconnects with `Last-Event-ID` (the header, as
 * EventSource sends it, or `?lastEventId=`) gets every event it missed within the retention
 * window first. `live` absent: 503 (no event connection in this process).
 */
export function eventsRouter(live: LiveEvents | undefined, service?: JobReads): Router {
  const router = Router();

  async function stream(req: Request, res: Response, options: Omit<OpenStreamOptions, 'lastEventId'>): Promise<void> {
    if (!live) throw queueUnavailable();
    const principal = principalOf(req);
    // Refused with a plain 503 (or the caller's 429) before any byte of the stream is sent.
    live.assertCapacity(principal);
    const query = req.query.lastEventId;
    const lastEventId = req.get('last-event-id') ?? (typeof query === 'string' ? query : undefined);
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
      detach = await live.open(stream, { ...options, lastEventId });
    } catch (error) {
      // Headers are sent: report in-band, then close; the client retries later.
      const appError = error instanceof AppError ? error : queueUnavailable(error);
      stream.write(`event: error\ndata: ${JSON.stringify(appError.toBody())}\n\n`);
      stream.end();
      return;
    }
    if (ended) detach();
  }

  router.get('/events', async function streamEvents(req, res) {
    await stream(req, res, {});
  });

  router.get('/jobs/:id/events', async function streamJobEvents(req, res) {
    if (!service) throw queueUnavailable();
    const principal = principalOf(req);
    // Another user's job, or none: 404 before the stream starts.
    const job = await service.get(principal, req.params.id);
    await stream(req, res, {
      jobId: job.id,
      isFinal: async () => isFinalStatus((await service.get(principal, job.id)).status),
    });
  });

  return router;
}
