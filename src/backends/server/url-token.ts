// Short-lived tokens for URLs that cannot carry an Authorization header (a browser's EventSource, an <img> tag):
// `?token=<expiry>.<HMAC>` signs one path (a job's event stream, one output file) until it expires. The key is
// random per server process, so tokens die with it. The long-lived bearer token is never accepted in a query string.
import {createHmac, randomBytes, timingSafeEqual} from 'node:crypto';

export const DEFAULT_URL_TOKEN_TTL_MS = 15 * 60_000;

export class UrlSigner {
  private readonly key: Buffer;

  constructor(readonly ttlMs = DEFAULT_URL_TOKEN_TTL_MS, key: Buffer = randomBytes(32)) {
    this.key = key;
  }

  private mac(path: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${expires}\n${path}`).digest('base64url');
  }

  /** A token for `path` (no query string), valid until now + ttl. */
  token(path: string, now = Date.now()): string {
    const expires = Math.floor((now + this.ttlMs) / 1000);
    return `${expires}.${this.mac(path, expires)}`;
  }

  /** `path?token=...` */
  sign(path: string, now = Date.now()): string {
    return `${path}${path.includes('?') ? '&' : '?'}token=${this.token(path, now)}`;
  }

  /** Whether `token` was made by this server for exactly `path` and has not expired. */
  verify(path: string, token: string, now = Date.now()): boolean {
    const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return false;
    const expires = Number(m[1]);
    if (expires * 1000 < now) return false;
    const want = Buffer.from(this.mac(path, expires));
    const got = Buffer.from(m[2]!);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

/** The paths a URL token may open: GET of a job's event stream and of an output file. */
export function signablePath(path: string): boolean {
  return /^\/v1\/jobs\/[^/]+\/events$/.test(path) || /^\/v1\/files\/[^/]+$/.test(path);
}
