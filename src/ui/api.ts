// Calls to the serve API from the page: the bearer token (asked once, kept for the tab in sessionStorage), JSON
// errors turned into the API's own one-line message, and the job's SSE stream read through fetch() (EventSource
// cannot send the Authorization header).
const TOKEN_KEY = 'mgen-token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (a locked-down browser): the token then lasts as long as this page.
  }
  memoryToken = token;
}
let memoryToken: string | null = null;

/**
 * The header for what the person typed: `user:password` is HTTP Basic (a server started with `--api-auth`), anything
 * else the bearer token (`--token`; mgen's generated tokens have no colon).
 */
export function authorization(secret: string): string {
  if (!secret.includes(':')) return `Bearer ${secret}`;
  const bytes = new TextEncoder().encode(secret);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  const t = getToken() ?? memoryToken;
  if (t) h.authorization = authorization(t);
  if (json) h['content-type'] = 'application/json';
  return h;
}

async function failure(r: Response): Promise<ApiError> {
  let message = `HTTP ${r.status}`;
  try {
    const body = (await r.json()) as {error?: {message?: string}};
    if (body.error?.message) message = body.error.message;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(r.status, message);
}

export async function api<T>(path: string, init: {method?: string; body?: unknown; signal?: AbortSignal} = {}): Promise<T> {
  const r = await fetch(path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: headers(init.body !== undefined),
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: init.signal,
    cache: 'no-store',
  });
  if (!r.ok) throw await failure(r);
  return (await r.json()) as T;
}

export interface SseEvent {
  event: string;
  data: unknown;
}

/** The events of a text/event-stream response, as they arrive. */
export async function* sse(path: string, signal: AbortSignal): AsyncGenerator<SseEvent> {
  const r = await fetch(path, {headers: {...headers(false), accept: 'text/event-stream'}, signal, cache: 'no-store'});
  if (!r.ok || !r.body) throw await failure(r);
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (!data.length) continue;
      let parsed: unknown = data.join('\n');
      try {
        parsed = JSON.parse(parsed as string);
      } catch {
        // plain text data
      }
      yield {event, data: parsed};
    }
  }
}

export function dataUrlOf(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const fr = new FileReader();
    fr.onload = () => resolve(String(fr.result));
    fr.onerror = () => reject(fr.error ?? new Error('cannot read the file'));
    fr.readAsDataURL(blob);
  });
}

export function blobOfBase64(b64: string, type = 'image/png'): Blob {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], {type});
}

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el as T;
};
