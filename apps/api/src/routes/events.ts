import { Router } from 'express';
import { AppError, queueUnavailable } from '@inferq/core';
import { principalOf } from '../http/authenticate.ts';
import type { LiveEvents } from '../liveEvents.ts';

/**
 * GET /v1/events: the caller's job events (every job's, and queue snapshots, for an admin) as
 * server-sent events. `live` absent: 503 (no subscriber connection in this process).
 */
export function eventsRouter(live: LiveEvents | undefined): Router {
  const router = Router();

  router.get('/events', async function streamEvents(req, res) {
    if (!live) throw queueUnavailable();
    const principal = principalOf(req);
    // Refused with a plain 503 (or the caller's 429) before any byte of the stream is sent.
    live.assertCapacity(principal);
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
      const appError = error instanceof AppError ? error : queueUnavailable(error);
      stream.write(`event: error\ndata: ${JSON.stringify(appError.toBody())}\n\n`);
      stream.end();
      return;
    }
    if (ended) detach();
  });

  return router;
}
