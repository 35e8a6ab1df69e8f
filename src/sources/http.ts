// The one HTTP layer of src/sources: fetch with bounded retries (connection resets, 5xx, 429 honouring
// Retry-After), status -> typed error mapping, and request counters. Everything takes an injectable fetch.
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
  if (isAbort(err) || err instanceof MgenError) return false;
  const code = (err as {code?: string})?.code ?? '';
  if (/^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|UND_ERR_SOCKET|ERR_STREAM_PREMATURE_CLOSE)$/.test(code)) return true;
  return err instanceof TypeError || /ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|terminated|socket|other side closed|premature|aborted/i.test(String((err as Error)?.message ?? err) + String((err as {cause?: unknown})?.cause ?? ''));
}

export function backoffMs(attempt: number, opts: HttpOptions): number {
  const base = opts.baseDelayMs ?? Number(process.env.MGEN_RETRY_BASE_MS ?? 500);
  return Math.min(opts.maxDelayMs ?? 30_000, base * 2 ** attempt * (0.75 + Math.random() * 0.5));
}

/** fetch with retries. Returns the last response for non-retryable statuses (the caller maps them). */
export async function fetchWithRetry(url: string, init: RequestInit, opts: HttpOptions = {}): Promise<Response> {
  const f = opts.fetch ?? fetch;
  const retries = opts.retries ?? 4;
  let lastErr: unknown;
  for (let attempt = 0; ; attempt++) {
    let res: Response | undefined;
    try {
      if (opts.counter) opts.counter.requests++;
      res = await f(url, {...init, signal: init.signal ?? opts.signal});
    } catch (err) {
      if (!isTransient(err) || attempt >= retries) {
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
