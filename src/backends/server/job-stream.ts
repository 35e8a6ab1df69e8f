// A job's Server-Sent Events stream (GET /v1/jobs/:id/events): every event numbered (`id:`), a `retry:` hint,
// keep-alive comments while the job waits or between slow steps, and a reconnect with `Last-Event-ID` replays what
// the client missed from the job's bounded event log, without repeating what it had. The final `done` event carries
// the job as GET /v1/jobs/:id shows it; a reconnect after it is answered 204 (EventSource then stops retrying).
import type {IncomingMessage, ServerResponse} from 'node:http';
import {isFinal, type Job, type JobEvent} from './queue.js';

export interface JobStreamOptions {
  /** Milliseconds between keep-alive comments. */
  keepAliveMs: number;
  /** The reconnection delay suggested to clients (`retry:`), ms. */
  retryMs: number;
  /** The `done` event's data: the job as its status route shows it. */
  view: () => Record<string, unknown>;
}

/** The `Last-Event-ID` a reconnecting client sent, or null. */
export function lastEventId(req: IncomingMessage): number | null {
  const raw = req.headers['last-event-id'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  return v !== undefined && /^\d{1,9}$/.test(v.trim()) ? Number(v.trim()) : null;
}

export function streamJobEvents<I, O>(job: Job<I, O>, req: IncomingMessage, res: ServerResponse, o: JobStreamOptions): Promise<void> {
  const after = lastEventId(req) ?? 0;
  const done = job.log.find((e) => e.event === 'done');
  if (done && after >= done.id) {
    res.writeHead(204).end();
    return Promise.resolve();
  }
  res.writeHead(200, {'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no'});
  // Fields and comments go out as lines of their own with no blank line after them: a blank line ends an event, and
  // some clients (httpx-sse) hand out an empty event for a block without data.
  res.write(`retry: ${o.retryMs}\n`);
  return new Promise<void>((resolve) => {
    let keepAlive: NodeJS.Timeout | undefined;
    const stop = (): void => {
      job.events.off('event', send);
      if (keepAlive) clearInterval(keepAlive);
      if (!res.writableEnded) res.end();
      resolve();
    };
    function send(e: JobEvent): void {
      if (res.writableEnded || e.id <= after) return;
      const data = e.event === 'done' ? o.view() : e.data;
      res.write(`id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(data)}\n\n`);
      if (e.event === 'done') stop();
    }
    for (const e of [...job.log]) send(e);
    if (res.writableEnded) return;
    if (isFinal(job.status)) {
      // Final, but its `done` entry left the log (cannot happen with a log of a few entries; kept for safety).
      stop();
      return;
    }
    job.events.on('event', send);
    keepAlive = setInterval(() => res.write(': keep-alive\n'), o.keepAliveMs);
    res.once('close', stop);
  });
}
