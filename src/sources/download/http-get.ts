// The download transfer path: node:http(s) GET with keep-alive agents, redirects followed by hand (Range and
// If-Range kept; Authorization dropped when the origin changes), retries on resets, 5xx and 429 (Retry-After).
// Measured faster than fetch's web streams for large bodies on this box (bench/RESULTS.md).
import http from 'node:http';
import https from 'node:https';
import {InterruptedError, NetworkError} from '../../errors.js';
import {rawGet, type Sink} from './raw-get.js';
import {backoffMs, errorForResponse, errText, hostOf, hostPath, isAbort, isTransient, retryAfterMs, stallLimits, StallError, StallWatch, type HttpOptions, type StallLimits, type StatusContext} from '../http.js';

const agents = {
  'http:': new http.Agent({keepAlive: true, maxSockets: 32}),
  'https:': new https.Agent({keepAlive: true, maxSockets: 32}),
};
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

export interface ResponseBody {
  /** Reads at most `limit` body bytes into `sink` in order (see RawBody.read); resolves with the count read. */
  read(sink: Sink, limit: number): Promise<number>;
  /** Up to `max` characters of the body (error answers). */
  text(max: number): Promise<string>;
  destroy(): void;
}

export interface StreamResponse {
  status: number;
  header(name: string): string | undefined;
  body: ResponseBody;
  /** The URL that answered (after redirects). */
  url: string;
}

/** Reads in ~1 MiB batches from a node:http response. */
function nodeBody(res: http.IncomingMessage, where: string, limits: StallLimits): ResponseBody {
  return {
    async read(sink, limit) {
      const watch = new StallWatch(limits, where, (e) => res.destroy(e));
      let got = 0;
      let batch: Buffer[] = [];
      let len = 0;
      const flush = async () => {
        if (len === 0) return;
        const b = batch;
        const n = len;
        batch = [];
        len = 0;
        watch.pause();
        await sink(b, n);
        watch.restartWindow();
        watch.arm();
      };
      try {
        watch.arm();
        for await (const chunk of res as AsyncIterable<Buffer>) {
          watch.bytes(chunk.byteLength);
          const c = chunk.byteLength > limit - got ? chunk.subarray(0, limit - got) : chunk;
          batch.push(c);
          len += c.byteLength;
          got += c.byteLength;
          if (len >= 1 << 20) await flush();
          if (got >= limit) break;
        }
      } finally {
        watch.stop();
        res.destroy();
        // Bytes that arrived before a cut are good: the sink gets them before the error goes up.
        await flush();
      }
      return got;
    },
    async text(max) {
      let text = '';
      const watch = new StallWatch(limits, where, (e) => res.destroy(e));
      watch.arm();
      try {
        for await (const c of res) {
          text += String(c);
          if (text.length > max) break;
        }
      } catch {
        /* ignore */
      }
      watch.stop();
      res.destroy();
      return text.slice(0, max);
    },
    destroy: () => res.destroy(),
  };
}

function nodeGetOnce(url: string, headers: Record<string, string>, signal: AbortSignal | undefined, limits: StallLimits): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const watch = new StallWatch(limits, hostPath(u), (e) => req.destroy(e));
    const req = mod.request(u, {method: 'GET', headers, agent: agents[u.protocol as 'http:' | 'https:'], signal}, (res) => {
      watch.stop();
      resolve(res);
    });
    req.on('error', (err) => {
      watch.stop();
      reject(err);
    });
    watch.arm();
    req.end();
  });
}

/** Plain identity bodies with a length go through the lean reader; anything else through node:http. */
const useRaw = () => process.env.MGEN_DOWNLOAD_TRANSPORT !== 'node';

async function getOnce(url: string, headers: Record<string, string>, signal: AbortSignal | undefined, limits: StallLimits): Promise<{status: number; headers: Record<string, string | string[] | undefined>; body: ResponseBody}> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new NetworkError(`unsupported URL scheme ${u.protocol}`);
  if (useRaw()) {
    const r = await rawGet(u, headers, signal, limits);
    const te = r.headers['transfer-encoding'];
    const ce = r.headers['content-encoding'];
    const plain = !te && (!ce || ce === 'identity') && r.headers['content-length'] !== undefined;
    if (plain || r.status < 200 || r.status >= 300) return r;
    r.body.destroy();
  }
  const res = await nodeGetOnce(url, headers, signal, limits);
  return {status: res.statusCode ?? 0, headers: res.headers, body: nodeBody(res, hostPath(u), limits)};
}

/** GET following redirects; returns the final answer (any status) with its body unread. */
export async function getFollowing(url: string, headers: Record<string, string>, signal?: AbortSignal, limits: StallLimits = stallLimits()): Promise<StreamResponse> {
  let cur = url;
  let hdrs = {...headers};
  for (let hop = 0; hop < 10; hop++) {
    const res = await getOnce(cur, hdrs, signal, limits);
    const loc = res.headers.location;
    if (res.status >= 300 && res.status < 400 && typeof loc === 'string') {
      res.body.destroy();
      const next = new URL(loc, cur);
      if (next.origin !== new URL(cur).origin) hdrs = withoutAuth(hdrs);
      cur = next.toString();
      continue;
    }
    return {status: res.status, url: cur, header: (n) => {
      const v = res.headers[n.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v;
    }, body: res.body};
  }
  throw new NetworkError(`${hostPath(url)}: too many redirects`);
}

export function withoutAuth(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([k]) => k.toLowerCase() !== 'authorization'));
}

/** Waits `ms`; an abort ends the wait with InterruptedError (what a cancelled download reports). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(new InterruptedError());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, {once: true});
  });
}

/** getFollowing with bounded retries; non-retryable statuses are returned for the caller to map. */
export async function getWithRetry(url: string, headers: Record<string, string>, opts: HttpOptions & {signal?: AbortSignal}): Promise<StreamResponse> {
  const retries = opts.retries ?? 4;
  const limits = stallLimits(opts);
  for (let attempt = 0; ; attempt++) {
    let res: StreamResponse;
    try {
      res = await getFollowing(url, headers, opts.signal, limits);
    } catch (err) {
      if (opts.signal?.aborted || isAbort(err)) throw new InterruptedError();
      if (!isTransient(err) && !(err as {code?: string}).code) throw err;
      if (attempt >= retries && err instanceof StallError) {
        // A plain NetworkError (not a StallError): the caller must not retry what was already retried here.
        throw new NetworkError(`${err.message} after ${attempt + 1} attempts`, {hint: 'the server stopped answering; run the pull again to resume', cause: err});
      }
      if (attempt >= retries) throw new NetworkError(`cannot reach ${hostOf(url)}: ${errText(err)}`, {hint: 'check the network, then run the pull again to resume', cause: err});
      await sleep(backoffMs(attempt, opts), opts.signal);
      continue;
    }
    if (!RETRY_STATUS.has(res.status) || attempt >= retries) return res;
    res.body.destroy();
    const wait = retryAfterMs(res.header('retry-after') ?? null);
    await sleep(Math.min(opts.maxDelayMs ?? 30_000, wait ?? backoffMs(attempt, opts)), opts.signal);
  }
}

/** Maps a non-OK streamed answer to our typed error (reads a little of its body for the detail). */
export async function streamError(res: StreamResponse, ctx: StatusContext): Promise<Error> {
  const text = await res.body.text(2000).catch(() => '');
  res.body.destroy();
  const headers = new Headers();
  for (const k of ['x-error-code', 'x-error-message', 'content-type']) {
    const v = res.header(k);
    if (v) headers.set(k, v);
  }
  return errorForResponse(new Response(text, {status: res.status, headers}), ctx);
}
