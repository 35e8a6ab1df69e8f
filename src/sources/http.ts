// The one HTTP layer of src/sources: fetch with bounded retries (connection resets, 5xx, 429 honouring
// Retry-After, stalls), status -> typed error mapping, and request counters. Everything takes an injectable fetch.
//
// Stalls: every request (its head and its body) is watched by a StallWatch: no byte for `idleMs` while a read
// waits (default 10 s, as huggingface_hub's HF_HUB_DOWNLOAD_TIMEOUT; MGEN_HTTP_TIMEOUT in seconds overrides), or
// fewer than `minBytesPerSecond` over a window of 3 x idleMs, fails the attempt with a StallError, which the
// retry loops here and in download/ treat like a cut connection (retry, resume).
import {AuthError, MgenError, NetworkError, NotFoundError, redact} from '../errors.js';

export type FetchLike = typeof fetch;

export interface HttpOptions {
  fetch?: FetchLike;
  /** Attempts after the first (default 4). */
  retries?: number;
  /** First backoff delay in ms, doubled each attempt (default 500, MGEN_RETRY_BASE_MS overrides). */
  baseDelayMs?: number;
  /** Upper bound for any single wait, Retry-After included (default 30 s). */
  maxDelayMs?: number;
  /** Secrets to redact from error text. */
  secrets?: Array<string | undefined>;
  /** Counts every HTTP exchange made (redirect hops included when followed by hand). */
  counter?: {requests: number};
  signal?: AbortSignal;
  /** Read-idle timeout in ms for a response head or body (default MGEN_HTTP_TIMEOUT seconds, else 10 s). */
  timeoutMs?: number;
  /** A transfer slower than this over 3 x timeoutMs is a stall (default 1024 bytes/s). */
  minBytesPerSecond?: number;
}

export interface StallLimits {
  idleMs: number;
  minBytesPerSecond: number;
  windowMs: number;
}

/** The stall limits of a request: options, else MGEN_HTTP_TIMEOUT (seconds), else 10 s idle and 1 KiB/s. */
export function stallLimits(opts: Pick<HttpOptions, 'timeoutMs' | 'minBytesPerSecond'> = {}): StallLimits {
  const env = Number(process.env.MGEN_HTTP_TIMEOUT);
  const idleMs = opts.timeoutMs ?? (Number.isFinite(env) && env > 0 ? env * 1000 : 10_000);
  return {idleMs, minBytesPerSecond: opts.minBytesPerSecond ?? 1024, windowMs: 3 * idleMs};
}

/** A response head or body that stopped (or crawled): retried like a cut connection, exit 5 once retries run out. */
export class StallError extends NetworkError {
  readonly code = 'ETIMEDOUT';
}

/** host + path of a URL, no query or credentials (for messages). */
export function hostPath(url: string | URL): string {
  try {
    const u = new URL(url);
    return redact(`${u.host}${u.pathname}`);
  } catch {
    return '(bad URL)';
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}

/**
 * Watches one transfer. `arm()` while a read waits for bytes (the idle timer runs), `pause()` while nobody reads
 * (backpressure, a caller that has not asked for the body yet), `bytes(n)` for each arrival, `stop()` at the end.
 * `onStall` gets a StallError once: no byte for idleMs while armed, or under minBytesPerSecond over a window.
 */
export class StallWatch {
  private timer?: NodeJS.Timeout;
  private armed = false;
  private lastAt = 0;
  private windowStart = 0;
  private windowBytes = 0;
  private fired = false;
  private stopped = false;

  constructor(private readonly limits: StallLimits, private readonly where: string, private readonly onStall: (err: StallError) => void) {}

  arm(): void {
    if (this.stopped || this.fired) return;
    const now = Date.now();
    this.lastAt = now;
    if (this.windowStart === 0) this.windowStart = now;
    this.armed = true;
    this.schedule(this.limits.idleMs);
  }

  pause(): void {
    this.armed = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** After a pause that was ours (backpressure): the rate window starts over. */
  restartWindow(): void {
    this.windowStart = 0;
    this.windowBytes = 0;
  }

  bytes(n: number): void {
    if (this.stopped || this.fired) return;
    const now = Date.now();
    // The idle timer is not reset per arrival (that would be a timer per socket read): it looks at lastAt when due.
    this.lastAt = now;
    if (this.windowStart === 0) this.windowStart = now;
    this.windowBytes += n;
    const span = now - this.windowStart;
    if (span >= this.limits.windowMs) {
      if ((this.windowBytes * 1000) / span < this.limits.minBytesPerSecond) {
        return this.fire(`under ${this.limits.minBytesPerSecond} bytes/s for ${seconds(span)}`);
      }
      this.windowStart = now;
      this.windowBytes = 0;
    }
  }

  stop(): void {
    this.stopped = true;
    this.pause();
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.armed) return;
      const idle = Date.now() - this.lastAt;
      if (idle >= this.limits.idleMs) this.fire(`no data for ${seconds(this.limits.idleMs)}`);
      else this.schedule(this.limits.idleMs - idle);
    }, ms);
    this.timer.unref?.();
  }

  private fire(why: string): void {
    if (this.stopped || this.fired) return;
    this.fired = true;
    this.pause();
    this.onStall(new StallError(`${this.where}: stalled (${why})`, {hint: 'the server stopped sending; try again later'}));
  }
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, {once: true});
  });
}

export function isAbort(err: unknown): boolean {
  return (err as {name?: string})?.name === 'AbortError' || (err as {code?: string})?.code === 'ABORT_ERR';
}

/** True for errors worth another attempt: resets, refused connections, bodies cut short. */
export function isTransient(err: unknown): boolean {
  if (err instanceof StallError) return true;
  if (isAbort(err) || err instanceof MgenError) return false;
  const code = (err as {code?: string})?.code ?? '';
  if (/^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|UND_ERR_SOCKET|ERR_STREAM_PREMATURE_CLOSE)$/.test(code)) return true;
  return err instanceof TypeError || /ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|terminated|socket|other side closed|premature|aborted/i.test(String((err as Error)?.message ?? err) + String((err as {cause?: unknown})?.cause ?? ''));
}

export function backoffMs(attempt: number, opts: HttpOptions): number {
  const base = opts.baseDelayMs ?? Number(process.env.MGEN_RETRY_BASE_MS ?? 500);
  return Math.min(opts.maxDelayMs ?? 30_000, base * 2 ** attempt * (0.75 + Math.random() * 0.5));
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * One fetch under a StallWatch: the head must come within the idle timeout, and the body (wrapped so the watch
 * runs only while the consumer waits for a chunk) must keep coming. A stall aborts the request and surfaces as
 * the StallError, from fetch or from the body read.
 */
async function watchedFetch(f: FetchLike, url: string, init: RequestInit, limits: StallLimits, outer?: AbortSignal | null): Promise<Response> {
  const ac = new AbortController();
  let stall: StallError | undefined;
  const watch = new StallWatch(limits, hostPath(url), (e) => {
    stall = e;
    ac.abort(e);
  });
  const onOuter = () => ac.abort(outer!.reason);
  if (outer?.aborted) throw outer.reason;
  outer?.addEventListener('abort', onOuter, {once: true});
  const done = () => {
    watch.stop();
    outer?.removeEventListener('abort', onOuter);
  };
  let res: Response;
  watch.arm();
  try {
    res = await f(url, {...init, signal: ac.signal});
  } catch (err) {
    done();
    throw stall ?? err;
  }
  watch.pause();
  if (!res.body || NULL_BODY.has(res.status)) {
    done();
    return res;
  }
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      watch.arm();
      try {
        const {done: end, value} = await reader.read();
        watch.pause();
        if (end) {
          done();
          ctl.close();
          return;
        }
        watch.bytes(value.byteLength);
        ctl.enqueue(value);
      } catch (err) {
        done();
        ctl.error(stall ?? err);
      }
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  }, {highWaterMark: 0});
  const out = new Response(body, {status: res.status, statusText: res.statusText, headers: res.headers});
  Object.defineProperty(out, 'url', {value: res.url});
  return out;
}

/** JSON answers (API listings, error bodies) are read here, so a body that stalls is retried like a head that does. */
async function buffered(res: Response): Promise<Response> {
  if (!/json/i.test(res.headers.get('content-type') ?? '') || !res.body) return res;
  const buf = await res.arrayBuffer();
  const out = new Response(buf, {status: res.status, statusText: res.statusText, headers: res.headers});
  Object.defineProperty(out, 'url', {value: res.url});
  return out;
}

/** fetch with retries. Returns the last response for non-retryable statuses (the caller maps them). */
export async function fetchWithRetry(url: string, init: RequestInit, opts: HttpOptions = {}): Promise<Response> {
  const f = opts.fetch ?? fetch;
  const retries = opts.retries ?? 4;
  const limits = stallLimits(opts);
  let lastErr: unknown;
  for (let attempt = 0; ; attempt++) {
    let res: Response | undefined;
    try {
      if (opts.counter) opts.counter.requests++;
      res = await buffered(await watchedFetch(f, url, init, limits, init.signal ?? opts.signal));
    } catch (err) {
      if (!isTransient(err) || attempt >= retries) {
        if (err instanceof StallError) {
          throw new NetworkError(redact(`${err.message} after ${attempt + 1} attempts`, opts.secrets ?? []), {hint: 'the server stopped sending; try again later', cause: err});
        }
        if (isAbort(err) || err instanceof MgenError) throw err;
        throw new NetworkError(redact(`cannot reach ${hostOf(url)}: ${errText(err)}`, opts.secrets ?? []), {
          hint: 'check the network or the endpoint, then try again',
          cause: err,
        });
      }
      lastErr = err;
      await sleep(backoffMs(attempt, opts), init.signal ?? opts.signal ?? undefined);
      continue;
    }
    if (!RETRY_STATUS.has(res.status) || attempt >= retries) return res;
    const wait = retryAfterMs(res.headers.get('retry-after'));
    await res.body?.cancel().catch(() => undefined);
    lastErr = new Error(`HTTP ${res.status}`);
    await sleep(Math.min(opts.maxDelayMs ?? 30_000, wait ?? backoffMs(attempt, opts)), init.signal ?? opts.signal ?? undefined);
  }
  void lastErr;
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export function errText(err: unknown): string {
  const e = err as {message?: string; cause?: {code?: string; message?: string}};
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `${e?.message ?? String(err)}${cause ? ` (${cause})` : ''}`;
}

export interface StatusContext {
  /** What was being fetched, for the message ("org/name", "civitai version 12"). */
  what: string;
  /** Hint for 401/403. */
  authHint?: string;
  notFoundHint?: string;
  secrets?: Array<string | undefined>;
}

/** Maps a non-OK response to a typed error (401/403 auth, 404/410 not found, else network). */
export async function errorForResponse(res: Response, ctx: StatusContext): Promise<MgenError> {
  let body = '';
  try {
    body = (await res.text()).slice(0, 300);
  } catch {
    /* ignore */
  }
  const code = res.headers.get('x-error-code') ?? '';
  const detail = redact(`HTTP ${res.status} ${res.url} ${code} ${body}`, ctx.secrets ?? []);
  if (res.status === 401 || res.status === 403) {
    return new AuthError(`${ctx.what}: access denied (HTTP ${res.status}${code ? ', ' + code : ''})`, {hint: ctx.authHint, detail});
  }
  if (res.status === 404 || res.status === 410) {
    return new NotFoundError(`${ctx.what}: not found${code ? ` (${code})` : ''}`, {hint: ctx.notFoundHint, detail});
  }
  if (res.status === 416) return new NetworkError(`${ctx.what}: range not satisfiable`, {detail});
  return new NetworkError(`${ctx.what}: HTTP ${res.status} after retries`, {hint: 'try again later', detail});
}
