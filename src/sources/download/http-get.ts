// The download transfer path: node:http(s) GET with keep-alive agents, redirects followed by hand (Range and
// If-Range kept; Authorization dropped when the origin changes), retries on resets, 5xx and 429 (Retry-After).
// Measured faster than fetch's web streams for large bodies on this box (bench/RESULTS.md).
import http from 'node:http';
import https from 'node:https';
import {InterruptedError, NetworkError} from '../../errors.js';
import {backoffMs, errorForResponse, errText, hostOf, isAbort, isTransient, retryAfterMs, type HttpOptions, type StatusContext} from '../http.js';

const agents = {
  'http:': new http.Agent({keepAlive: true, maxSockets: 32}),
  'https:': new https.Agent({keepAlive: true, maxSockets: 32}),
};
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

export interface StreamResponse {
  status: number;
  header(name: string): string | undefined;
  body: http.IncomingMessage;
}

function getOnce(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!mod) return reject(new NetworkError(`unsupported URL scheme ${u.protocol}`));
    const req = mod.request(u, {method: 'GET', headers, agent: agents[u.protocol as 'http:' | 'https:'], signal}, resolve);
    req.on('error', reject);
    req.end();
  });
}

/** GET following redirects; returns the final answer (any status) with its body unread. */
export async function getFollowing(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<StreamResponse> {
  let cur = url;
  let hdrs = {...headers};
  for (let hop = 0; hop < 10; hop++) {
    const res = await getOnce(cur, hdrs, signal);
    const loc = res.headers.location;
    if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && loc) {
      res.resume();
      const next = new URL(loc, cur);
      if (next.origin !== new URL(cur).origin) hdrs = Object.fromEntries(Object.entries(hdrs).filter(([k]) => k.toLowerCase() !== 'authorization'));
      cur = next.toString();
      continue;
    }
    return {status: res.statusCode ?? 0, header: (n) => {
      const v = res.headers[n.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v;
    }, body: res};
  }
  throw new NetworkError(`${hostOf(url)}: too many redirects`);
}

/** Waits `ms`; an abort ends the wait with InterruptedError (what a cancelled download reports). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new InterruptedError());
    }, {once: true});
  });
}

/** getFollowing with bounded retries; non-retryable statuses are returned for the caller to map. */
export async function getWithRetry(url: string, headers: Record<string, string>, opts: HttpOptions & {signal?: AbortSignal}): Promise<StreamResponse> {
  const retries = opts.retries ?? 4;
  for (let attempt = 0; ; attempt++) {
    let res: StreamResponse;
    try {
      res = await getFollowing(url, headers, opts.signal);
    } catch (err) {
      if (opts.signal?.aborted || isAbort(err)) throw new InterruptedError();
      if (!isTransient(err) && !(err as {code?: string}).code) throw err;
      if (attempt >= retries) throw new NetworkError(`cannot reach ${hostOf(url)}: ${errText(err)}`, {hint: 'check the network, then run the pull again to resume', cause: err});
      await sleep(backoffMs(attempt, opts), opts.signal);
      continue;
    }
    if (!RETRY_STATUS.has(res.status) || attempt >= retries) return res;
    res.body.resume();
    const wait = retryAfterMs(res.header('retry-after') ?? null);
    await sleep(Math.min(opts.maxDelayMs ?? 30_000, wait ?? backoffMs(attempt, opts)), opts.signal);
  }
}

/** Maps a non-OK streamed answer to our typed error (reads a little of its body for the detail). */
export async function streamError(res: StreamResponse, ctx: StatusContext): Promise<Error> {
  let text = '';
  try {
    for await (const c of res.body) {
      text += String(c);
      if (text.length > 2000) break;
    }
  } catch {
    /* ignore */
  }
  res.body.destroy();
  const headers = new Headers();
  for (const k of ['x-error-code', 'x-error-message', 'content-type']) {
    const v = res.header(k);
    if (v) headers.set(k, v);
  }
  return errorForResponse(new Response(text, {status: res.status, headers}), ctx);
}
